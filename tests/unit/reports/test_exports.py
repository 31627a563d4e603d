"""Exports are parsed back and equal their input; spreadsheets never run a cell."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from defusedxml import ElementTree

from app.errors import PermanentError
from app.reports.exports import export_records, frame_records, xml_name, xml_names
from tests.unit.reports.datasets import sales

RECORDS: list[dict[str, Any]] = [
    {"id": 1, "name": "Zoë", "city": "東京", "price (€)": 9.5, "2nd": True, "note": None},
    {
        "id": 2,
        "name": "<b>bold</b> & co",
        "city": "Köln",
        "price (€)": -3.25,
        "2nd": False,
        "note": "line one\nline two",
    },
    {"id": 3, "name": "emoji 🚀", "city": "", "price (€)": 0.0, "2nd": None, "note": "x:y"},
]


def _xml_value(element) -> Any:
    kind = element.get("type", "str")
    if kind == "null":
        return None
    if kind == "object":
        return {child.get("key", child.tag): _xml_value(child) for child in element}
    if kind == "list":
        return [_xml_value(child) for child in element]
    text = element.text or ""
    return json.loads(text) if kind in ("int", "float", "bool") else text


def read_xml(path: Path) -> list[dict[str, Any]]:
    root = ElementTree.parse(path).getroot()
    return [{f.get("key", f.tag): _xml_value(f) for f in record} for record in root]


def test_json_round_trip(tmp_path: Path) -> None:
    path = export_records(RECORDS, "json", tmp_path / "e.json")
    assert json.loads(path.read_text(encoding="utf-8")) == RECORDS


def test_xml_round_trip_with_arbitrary_keys(tmp_path: Path) -> None:
    records = [*RECORDS, {"nested": {"a b": [1, "two", None]}, "xmlish": "v", "": "blank"}]
    path = export_records(records, "xml", tmp_path / "e.xml")
    assert read_xml(path) == records


def test_csv_round_trip(tmp_path: Path) -> None:
    path = export_records(RECORDS, "csv", tmp_path / "e.csv")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [{k: "" if v is None else str(v) for k, v in r.items()} for r in RECORDS]
    assert rows == expected  # -3.25 is a number, so it is not neutralised


def test_xlsx_round_trip(tmp_path: Path) -> None:
    path = export_records(RECORDS, "xlsx", tmp_path / "e.xlsx")
    sheet = openpyxl.load_workbook(path)["Export"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(RECORDS[0])
    back = [dict(zip(rows[0], row)) for row in rows[1:]]
    expected = [{k: (None if v == "" else v) for k, v in r.items()} for r in RECORDS]
    assert back == expected


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_neutralised(tmp_path: Path, fmt: str) -> None:
    dangerous = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", '=HYPERLINK("http://x")']
    records = [{"value": v} for v in dangerous] + [{"value": 5}, {"value": -5}]
    path = export_records(records, fmt, tmp_path / f"f.{fmt}")
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            cells = [row[0] for row in csv.reader(handle)][1:]
    else:
        sheet = openpyxl.load_workbook(path)["Export"]
        cells = [c.value for c in sheet["A"]][1:]
        assert all(c.data_type != "f" for c in sheet["A"])
    assert cells[:5] == ["'" + v for v in dangerous]
    assert [str(c) for c in cells[5:]] == ["5", "-5"]  # numbers stay numbers


def test_xml_names_are_valid_and_distinct() -> None:
    assert xml_name("price (€)") == "price____"
    assert xml_name("名前") == "__"
    assert xml_name("2nd") == "_2nd"
    assert xml_name("xmlData") == "_xmlData"
    assert xml_name("") == "_"
    assert xml_name("a:b") == "a_b"
    names = xml_names(["a b", "a_b", "a-b"])
    assert len(set(names.values())) == 3


def test_frame_records_are_plain(tmp_path: Path) -> None:
    records = frame_records(sales(20))
    assert records[0]["nothing"] is None
    assert isinstance(records[0]["amount"], float)
    path = export_records(records, "json", tmp_path / "s.json")
    assert json.loads(path.read_text(encoding="utf-8")) == records


def test_export_refuses_non_records(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="named fields"):
        export_records([1, 2], "csv", tmp_path / "x.csv")  # type: ignore[list-item]
