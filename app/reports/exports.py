"""Data exports to CSV, XLSX, JSON and XML, safe for whoever opens them.

CSV and XLSX cells starting with = + - @ are neutralised so a spreadsheet never runs them; XML
element names are derived from arbitrary keys and always valid, with the original key kept in a
`key` attribute and non-text values typed so a reader can restore them exactly.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import XMLGenerator

import pandas as pd

from app.errors import PermanentError
from app.reports.cells import csv_value
from app.reports.model import DataSheet, plain
from app.reports.xlsx import Sheet, workbook, write_data_sheet

EXPORT_FORMATS = ("csv", "xlsx", "json", "xml")

# ASCII only: every XML parser accepts these, while the Unicode name ranges differ between
# XML editions; the original key always travels in the `key` attribute.
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.-]")
_NAME_START = re.compile(r"[A-Za-z_]")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a DataFrame as plain JSON-safe dicts (NaN becomes None, dates ISO text)."""
    columns = [str(c) for c in frame.columns]
    return [dict(zip(columns, map(plain, row))) for row in frame.itertuples(index=False, name=None)]


def columns_of(records: Sequence[dict[str, Any]]) -> list[str]:
    """Every key used by any record, in order of first appearance."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


def export_records(records: Sequence[dict[str, Any]], fmt: str, path: Path) -> Path:
    """Write `records` to `path` in `fmt` (csv, xlsx, json or xml) and return the path."""
    if any(not isinstance(r, dict) for r in records):
        raise PermanentError("Every record to export must be an object of named fields.")
    writers = {"csv": write_csv, "xlsx": write_xlsx, "json": write_json, "xml": write_xml}
    if fmt not in writers:
        raise PermanentError(f"Exports are CSV, XLSX, JSON or XML, not {fmt!r}.")
    writers[fmt](records, path)
    return path


def _cell_text(value: Any) -> Any:
    """Nested values become JSON text in flat formats."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def write_csv(records: Sequence[dict[str, Any]], path: Path) -> None:
    """UTF-8 with a byte-order mark, so Excel shows accents and scripts correctly."""
    columns = columns_of(records)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([csv_value(c) for c in columns])
        for record in records:
            writer.writerow([csv_value(_cell_text(record.get(c))) for c in columns])


def write_xlsx(records: Sequence[dict[str, Any]], path: Path) -> None:
    columns = columns_of(records)

    def rows() -> Iterable[list[Any]]:
        return ([_cell_text(record.get(c)) for c in columns] for record in records)

    book, styles = workbook(path)
    sheet = Sheet(book, "Export", styles)
    write_data_sheet(sheet, DataSheet(columns=columns, row_count=len(records), rows=rows))
    book.close()


def write_json(records: Sequence[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(
            [_plain_tree(r) for r in records], handle, ensure_ascii=False, indent=1, allow_nan=False
        )


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v) for v in value]
    return plain(value)


# XML ------------------------------------------------------------------------------------


def xml_name(key: str) -> str:
    """A valid XML element name for any key: "2nd price (€)" -> "_2nd_price____"."""
    name = _NOT_NAME_CHAR.sub("_", str(key))
    if not name or not _NAME_START.match(name):
        name = "_" + name
    if name[:3].lower() == "xml":  # names starting with "xml" are reserved by the spec
        name = "_" + name
    return name


def xml_names(keys: Iterable[str]) -> dict[str, str]:
    """Distinct element names for distinct keys, even when two keys clean up the same way."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = name = xml_name(key)
        counter = 2
        while name in used:
            name = f"{base}_{counter}"
            counter += 1
        used.add(name)
        names[key] = name
    return names


def xml_text(value: str) -> str:
    """Text with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", value)


def write_xml(records: Sequence[dict[str, Any]], path: Path) -> None:
    """<records><record><name key="original">value</name>...</record></records>."""
    names = xml_names(columns_of(records))
    with open(path, "w", encoding="utf-8") as handle:
        out = XMLGenerator(handle, encoding="utf-8", short_empty_elements=True)
        out.startDocument()
        out.startElement("records", {"count": str(len(records))})
        for record in records:
            out.startElement("record", {})
            for key, value in record.items():
                _xml_value(out, names[str(key)], str(key), value)
            out.endElement("record")
        out.endElement("records")
        out.endDocument()


def _xml_value(out: XMLGenerator, name: str, key: str | None, value: Any) -> None:
    attrs = {"key": xml_text(key)} if key is not None and key != name else {}
    value = plain(value) if not isinstance(value, (dict, list, tuple)) else value
    kind = _xml_type(value)
    if kind != "str":
        attrs["type"] = kind
    out.startElement(name, attrs)
    if isinstance(value, dict):
        names = xml_names(str(k) for k in value)
        for child_key, child in value.items():
            _xml_value(out, names[str(child_key)], str(child_key), child)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _xml_value(out, "item", None, item)
    elif value is not None:
        text = json.dumps(value) if kind in ("int", "float", "bool") else str(value)
        out.characters(xml_text(text))
    out.endElement(name)


def _xml_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "list"
    return "str"
