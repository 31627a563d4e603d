"""The streamed data sheet: what a reader finds in it is what the cell-by-cell writer wrote."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader
from python_calamine import CalamineWorkbook

from app.reports import xlsx, xlsx_rows
from app.reports.analytics import AnalyticsOptions
from app.reports.analytics_report import analytics_report, data_sheet
from app.reports.model import DataSheet, Report
from app.reports.render import write_report
from tests.unit.reports.datasets import sales

TRICKY = pd.DataFrame(
    {
        "when": pd.to_datetime(
            ["2024-01-01 10:00", None, "1900-03-01 12:30:15.25", "2024-02-29"], format="mixed"
        ),
        "zoned": pd.to_datetime(
            ["2024-01-01T10:00+02:00", None, "2024-06-01T00:00Z", "2024-01-01T00:00Z"],
            utc=True,
            format="ISO8601",
        ),
        "day": [dt.date(2024, 1, 2), dt.date(1900, 2, 28), None, dt.date(2000, 1, 1)],
        "clock": [dt.time(12, 30), None, dt.time(0, 0, 1), dt.time(23, 59, 59)],
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "mixed": [True, 1, 1.5, "1"],
        "text": ["  lead", "trail ", "_x0041_ & <b>", "ctl\x01\x1f\ttab\nnl\r"],
        "markup": ["<r>rich?</r>", "<r></t></is></c></row></sheetData></r>", "</r>", "<r>"],
        "number": [np.inf, -np.inf, 1e20, 0.1 + 0.2],
        "whole": [3.0, -0.0, 12.0, np.nan],
        "big": [2**63 - 1, 0, -1, 12345678901234567],
        "formula": ["=1+1", "+x", "@y", None],
        "category": pd.Categorical(["a", "b", None, "a"]),
        "blankish": ["", " ", None, "x"],
        "unicode": ["\ufffe", "😀" * 3, "東京", None],
        "duration": [pd.Timedelta("1h"), None, pd.Timedelta("2D"), pd.Timedelta(0)],
        "decimal": [decimal.Decimal("1.5"), None, 2, "z"],
        "nothing": [None, None, None, None],
    }
)


def _write(path: Path, data: DataSheet, by_cell: bool) -> Path:
    book, styles = xlsx.workbook(path)
    xlsx.Sheet(book, "Summary", styles).append(["before the data"])
    write = xlsx.append_data_rows if by_cell else xlsx.write_data_sheet
    write(xlsx.Sheet(book, "Data", styles), data)
    book.close()
    return path


def _cells(path: Path) -> list[list[tuple[object, str, str]]]:
    sheet = openpyxl.load_workbook(path)["Data"]
    return [[(c.value, c.data_type, c.number_format) for c in row] for row in sheet.iter_rows()]


def _same(streamed: object, by_cell: object) -> bool:
    if isinstance(streamed, float) and isinstance(by_cell, float):
        return streamed == pytest.approx(by_cell, rel=1e-15)
    return streamed == by_cell


@pytest.mark.parametrize("frame", [sales(600), TRICKY], ids=["sales", "tricky"])
def test_streamed_sheet_reads_like_the_cell_by_cell_one(frame, tmp_path: Path) -> None:
    streamed = _cells(_write(tmp_path / "streamed.xlsx", data_sheet(frame), by_cell=False))
    if frame is TRICKY:
        # The cell-by-cell writer breaks the file on "<r>…</r>" text: compare without it.
        frame = frame.drop(columns="markup")
        streamed = [[c for i, c in enumerate(row) if i != 7] for row in streamed]
    reference = _cells(_write(tmp_path / "by-cell.xlsx", data_sheet(frame), by_cell=True))
    assert len(streamed) == len(reference) == len(frame) + 1
    for mine, theirs in zip(streamed, reference, strict=True):
        assert len(mine) == len(theirs)
        for (value, kind, fmt), (ref_value, ref_kind, ref_fmt) in zip(mine, theirs):
            assert (kind, fmt) == (ref_kind, ref_fmt)
            assert _same(value, ref_value), (value, ref_value)


def test_streamed_values_are_typed_and_safe(tmp_path: Path) -> None:
    rows = _cells(_write(tmp_path / "t.xlsx", data_sheet(TRICKY), by_cell=False))
    header = [c[0] for c in rows[0]]
    column = {name: [row[i] for row in rows[1:]] for i, name in enumerate(header)}
    assert column["when"][0][0] == dt.datetime(2024, 1, 1, 10, 0)
    assert column["when"][0][2] == "yyyy-mm-dd hh:mm:ss"
    assert column["zoned"][0][0] == dt.datetime(2024, 1, 1, 8, 0)  # stored in UTC
    assert column["day"][0][2] == "yyyy-mm-dd"
    assert column["clock"][0][2] == "hh:mm:ss"
    assert [c[0] for c in column["flag"]] == [True, None, False, True]
    assert [c[0] for c in column["number"]] == [None, None, 1e20, 0.1 + 0.2]  # exact
    assert [c[0] for c in column["formula"]] == ["'=1+1", "'+x", "'@y", None]
    assert [c[0] for c in column["markup"]] == list(TRICKY["markup"])
    # openpyxl leaves Excel's _xHHHH_ escapes as they are; calamine decodes them, as Excel does.
    decoded = CalamineWorkbook.from_path(str(tmp_path / "t.xlsx")).get_sheet_by_name("Data")
    text = [row[header.index("text")] for row in decoded.to_python()[1:]]
    assert text == ["  lead", "trail ", "_x0041_ & <b>", "ctl\ufffd\ufffd\ttab\nnl\r"]
    assert column["nothing"] == [(None, "n", "General")] * 4
    assert not any(kind == "f" for row in rows for _v, kind, _f in row)


def test_every_row_arrives_across_blocks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx_rows, "block_rows", lambda _columns: 7)
    frame = sales(100)
    frame.loc[frame.index[-1], :] = None  # an empty last row still counts as a row
    path = _write(tmp_path / "b.xlsx", data_sheet(frame), by_cell=False)
    data = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Data").to_python()
    assert [row[0] for row in data[1:100]] == list(range(1, 100))
    assert data[50][2] == frame.iloc[49, 2]
    sheet = openpyxl.load_workbook(path, read_only=True)["Data"]
    assert (sheet.max_row, sheet.max_column) == (101, frame.shape[1])  # the <dimension>


def test_rows_without_columns_are_streamed_too(tmp_path: Path, monkeypatch) -> None:
    """An export's records arrive as row lists: the writer makes the blocks itself."""
    monkeypatch.setattr(xlsx_rows, "block_rows", lambda _columns: 2)
    rows = [[1, "a", None], [2, "=b"], [3, "c", dt.date(2024, 5, 1)]]
    data = DataSheet(["n", "s", "d"], len(rows), lambda: iter(rows))
    cells = _cells(_write(tmp_path / "r.xlsx", data, by_cell=False))
    assert [[v for v, _k, _f in row] for row in cells] == [
        ["n", "s", "d"],
        [1, "a", None],
        [2, "'=b", None],
        [3, "c", dt.datetime(2024, 5, 1)],
    ]


def test_a_data_sheet_takes_no_more_rows(tmp_path: Path) -> None:
    book, styles = xlsx.workbook(tmp_path / "x.xlsx")
    sheet = xlsx.Sheet(book, "Data", styles)
    xlsx.write_data_sheet(sheet, data_sheet(sales(3)))
    with pytest.raises(RuntimeError, match="data sheet"):
        sheet.append(["late"])
    book.close()


def test_rich_text_lookalikes_in_the_summary_stay_text(tmp_path: Path) -> None:
    report = Report(title="<r>title</r>", facts=[("<r>label</r>", "<r></is></c></r>")])
    written = write_report(report, ["xlsx"], lambda n: tmp_path / n)
    values = [
        c.value
        for row in openpyxl.load_workbook(written["xlsx"])["Summary"]
        for c in row
        if c.value
    ]
    assert values[0] == "<r>title</r>"
    assert "<r>label</r>" in values and "<r></is></c></r>" in values


def test_excel_row_limit_is_said_in_the_summary(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 11)
    report, _ = analytics_report(sales(30), AnalyticsOptions())
    written = write_report(report, ["xlsx"], lambda n: tmp_path / n)
    book = openpyxl.load_workbook(written["xlsx"])
    assert book["Data"].max_row == 11
    summary = [c.value for row in book["Summary"] for c in row if c.value]
    assert "The data sheet holds the first 10 of 30 rows, the most an Excel sheet can." in summary


def test_html_and_pdf_show_a_sample_and_say_where_every_row_is(tmp_path: Path) -> None:
    report, _ = analytics_report(sales(50), AnalyticsOptions(sample_rows=5))
    written = write_report(report, ["html", "xlsx", "pdf"], lambda n: tmp_path / n)
    note = "Showing 5 of 50 rows and 8 of 8 columns; the XLSX data sheet and the exports"
    assert note in written["html"].read_text(encoding="utf-8")
    pdf = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(written["pdf"]).pages)
    assert note in pdf and "carry every row" in pdf
    assert openpyxl.load_workbook(written["xlsx"])["Data"].max_row == 51
