"""Reading CSV, XLSX and JSON into tables, whatever the encoding, delimiter or shape."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app.errors import PermanentError
from app.reports.analytics import AnalyticsOptions
from app.reports.analytics_report import analytics_report
from app.reports.data import load_table
from tests.unit.reports.datasets import sales


def test_csv_with_semicolons_bom_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffname;city;amount\nZoë;東京;1,5\nJosé;Köln;2\n".encode())
    frame = load_table(path)
    assert list(frame.columns) == ["name", "city", "amount"]
    assert frame["city"].tolist() == ["東京", "Köln"]


def test_windows_1252_csv(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("name,price\nCafé,3\nCrème brûlée,5\n".encode("cp1252"))
    assert load_table(path)["name"].tolist() == ["Café", "Crème brûlée"]


def test_xlsx_round_trip(tmp_path: Path) -> None:
    frame = sales(50)
    path = tmp_path / "sales.xlsx"
    frame.to_excel(path, index=False)
    loaded = load_table(path)
    assert list(loaded.columns) == list(frame.columns)
    assert loaded["region"].tolist() == frame["region"].tolist()


@pytest.mark.parametrize("shape", ["records", "wrapped", "columns", "lines"])
def test_json_shapes(tmp_path: Path, shape: str) -> None:
    records = [{"a": 1, "b": {"c": "x"}}, {"a": 2, "b": {"c": "y"}}]
    text = {
        "records": json.dumps(records),
        "wrapped": json.dumps({"data": records}),
        "columns": json.dumps({"a": [1, 2], "b.c": ["x", "y"]}),
        "lines": "\n".join(json.dumps(r) for r in records),
    }[shape]
    path = tmp_path / "data.json"
    path.write_text(text)
    frame = load_table(path)
    assert frame["a"].tolist() == [1, 2]
    assert frame["b.c"].tolist() == ["x", "y"]


def test_blank_and_duplicate_headers_get_names(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a,\n1,2,3\n")
    assert list(load_table(path).columns) == ["a", "a.1", "column_3"]


def test_refuses_other_files_in_plain_words(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(PermanentError, match="empty"):
        load_table(empty)
    pdf = tmp_path / "x.csv"
    pdf.write_bytes(b"%PDF-1.7 not a table")
    with pytest.raises(PermanentError, match="PDF document"):
        load_table(pdf)


def test_mixed_types_survive_loading(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    sales(100).to_csv(path, index=False)
    frame = load_table(path)
    assert len(frame) == 100
    assert frame["nothing"].isna().all()
    assert isinstance(frame, pd.DataFrame)


def test_nested_lists_in_json_become_text_and_still_analyse(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    path.write_text(json.dumps([{"a": 1, "tags": ["x", "y"]}, {"a": 2, "tags": []}]))
    frame = load_table(path)
    assert frame["tags"].tolist() == ['["x", "y"]', "[]"]
    report, _ = analytics_report(frame, AnalyticsOptions())
    assert report.data.row_count == 2
