"""Excel: analysis, conversion, totals, saved results of formulas, and streaming."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pytest

from app.errors import PermanentError
from app.office import excel, excel_stream
from app.office.excel_formulas import FormulaStats
from app.office.outputs import OutputFolder


def sheet(result: dict, operation: str, name: str) -> dict:
    return next(s for s in result[operation]["sheets"] if s["sheet"] == name)


def test_analyze_describes_each_sheet(files: dict[str, Path], out: OutputFolder) -> None:
    result = excel.process(files["xlsx"], ["analyze"], out)
    sales = sheet(result, "analyze", "Sales")
    assert sales["used_range"] == "A1:F5"
    assert (sales["rows"], sales["data_rows"], sales["columns"]) == (5, 4, 6)
    assert sales["has_header"] is True
    assert sales["merged_ranges"] == ["H1:I2"]
    assert sales["formulas"] == 1 and sales["formulas_without_cached_value"] == 1
    columns = {c["name"]: c for c in sales["column_stats"]}
    assert columns["Region"]["type"] == "text"
    assert columns["Date"]["type"] == "date"
    units = columns["Units"]
    assert (units["type"], units["min"], units["max"], units["sum"], units["mean"]) == (
        "number",
        0,
        10,
        20,
        5,
    )
    assert sales["preview"]["columns"][:4] == ["Region", "Date", "Units", "Price"]
    assert sales["preview"]["rows"][0][:3] == ["North", "2024-01-05", 10]


def test_a_formula_without_a_saved_result_is_reported(
    files: dict[str, Path], out: OutputFolder
) -> None:
    result = excel.process(files["xlsx"], ["convert"], out)
    assert result["convert"]["notes"] == [
        "1 formula(s) in sheet 'Sales' (F2) have no saved result, so they read as empty. "
        "Open the file in Excel and save it to calculate them."
    ]


def test_convert_writes_csv_and_json_per_sheet(files: dict[str, Path], out: OutputFolder) -> None:
    result = excel.process(files["xlsx"], ["convert"], out)
    assert sheet(result, "convert", "Sales")["files"] == ["sales-Sales.csv", "sales-Sales.json"]
    with open(out.folder / "sales-Sales.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Region", "Date", "Units", "Price", "", "Total"]
    assert rows[1] == ["North", "2024-01-05", "10", "2.5", "", ""]
    records = json.loads((out.folder / "sales-Sales.json").read_text())
    assert records[1] == {
        "Region": "South",
        "Date": "2024-01-06",
        "Units": 4,
        "Price": 3,
        "E": None,
        "Total": None,
    }
    assert len(records) == 4


def test_calculate_totals_and_groups(files: dict[str, Path], out: OutputFolder) -> None:
    result = excel.process(files["xlsx"], ["calculate"], out, {"group_by": "region"})
    sales = sheet(result, "calculate", "Sales")
    totals = {t["name"]: t for t in sales["totals"]}
    assert set(totals) == {"Units", "Price"}
    assert totals["Units"]["sum"] == 20 and totals["Price"]["max"] == 4
    assert sales["group_columns"] == ["Region", "rows", "Units (sum)", "Price (sum)"]
    assert sales["group_rows"] == [["East", 1, 0, 4], ["North", 2, 16, 5], ["South", 1, 4, 3]]
    assert (out.folder / sales["group_file"]).read_text().startswith("Region,rows,")
    notes = sheet(result, "calculate", "Notes")["notes"]
    assert notes == [
        "Sheet 'Notes' has no column 'region' to group by; only the totals were calculated."
    ]


def test_very_large_sheets_take_the_streaming_reader_with_the_same_results(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations, options = ["analyze", "convert", "calculate"], {"group_by": "Region"}
    fast = excel.process(files["xlsx"], operations, OutputFolder(tmp_path / "fast"), options)
    monkeypatch.setattr(excel_stream, "STREAM_ABOVE_BYTES", 0)
    streamed = excel.process(
        files["xlsx"], operations, OutputFolder(tmp_path / "streamed"), options
    )
    for name in ("Sales", "Notes"):
        a, b = sheet(fast, "calculate", name), sheet(streamed, "calculate", name)
        assert a["totals"] == b["totals"]
        assert a.get("group_rows") == b.get("group_rows")
        assert (
            sheet(streamed, "analyze", name)["merged_ranges"]
            == sheet(fast, "analyze", name)["merged_ranges"]
        )
    assert streamed["convert"]["notes"] == fast["convert"]["notes"]

    def columns(folder: str) -> list[list[str]]:
        with open(tmp_path / folder / "sales-Sales.csv", newline="") as handle:
            return [[row[0], row[2], row[3]] for row in csv.reader(handle)]

    # Region, Units and Price agree; openpyxl reads date-only cells as midnight datetimes.
    assert columns("streamed") == columns("fast")


def test_unknown_sheet_or_format_is_a_sentence(files: dict[str, Path], out: OutputFolder) -> None:
    with pytest.raises(PermanentError, match="no sheet called 'Budget'"):
        excel.process(files["xlsx"], ["analyze"], out, {"sheets": ["Budget"]})
    with pytest.raises(PermanentError, match="CSV or JSON, not xml"):
        excel.process(files["xlsx"], ["convert"], out, {"formats": ["xml"]})


class GeneratedSheet:
    """A sheet-shaped source that makes its rows on demand, as calamine's iterator does."""

    def __init__(self, rows: int) -> None:
        self.height, self.width = rows + 1, 4
        self.start, self.end = (0, 0), (rows, 3)
        self.merged_cell_ranges: list = []

    def iter_rows(self):
        yield ["id", "amount", "group", "note"]
        for r in range(self.height - 1):
            yield [float(r), r * 0.25, f"g{r % 7}", f"row {r}"]


def test_rows_stream_through_the_operations_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    """Analyse, convert and total 4x the rows: Python's peak memory stays flat."""
    peaks = []
    for rows in (2_000, 8_000):
        sheet = GeneratedSheet(rows)
        context = excel.SheetContext("Data", sheet, "big", FormulaStats())
        out = OutputFolder(tmp_path / f"out{rows}")
        visitors = excel._visitors(
            ["analyze", "convert", "calculate"], context, out, excel.FORMATS, {"group_by": "group"}
        )
        tracemalloc.start()
        excel.stream_rows(sheet, visitors, context, lambda *args: None)
        summaries = [visitor.finish() for visitor in visitors]
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summaries[2]["rows"] == rows
        assert (out.folder / "big-Data.csv").read_text().count("\n") == rows + 1
    assert peaks[1] < peaks[0] * 1.2, peaks
