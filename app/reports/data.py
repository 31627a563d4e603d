"""Reading tabular data from CSV, XLSX and JSON into a DataFrame with clean column names."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd

from app import filetypes
from app.errors import PermanentError
from app.office import guard
from app.settings import get_settings

READABLE_TYPES = ("csv", "xlsx", "json", "text")
_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024
_RECORD_KEYS = ("records", "data", "rows", "items", "results")


def load_table(path: Path, kind: str | None = None, *, sheet: str | int = 0) -> pd.DataFrame:
    """The table stored at `path`; a PermanentError in plain words when it cannot be read."""
    kind = kind or filetypes.sniff_file(path)
    if kind == "unknown" and _legacy_text(path):
        kind = "csv"
    if kind == "empty":
        raise PermanentError(f"The file {path.name} is empty.")
    if kind not in READABLE_TYPES:
        raise PermanentError(
            f"Reports read CSV, Excel (.xlsx) and JSON files; {path.name} is a "
            f"{filetypes.describe(kind)}."
        )
    # The same size, zip-bomb and inflated-size checks the files queue applies.
    guard.check_size(path)
    if kind == "xlsx":
        guard.check_ooxml(path, "xlsx")
    readers = {"csv": read_csv, "text": read_csv, "json": read_json}
    frame = read_xlsx(path, sheet) if kind == "xlsx" else readers[kind](path)
    check_rows(len(frame), path.name)
    return clean_columns(frame)


def check_rows(count: int, name: str) -> None:
    """Refuse a table over the row cap; the readers stop one row past it, so this sees it."""
    cap = get_settings().max_table_rows
    if count > cap:
        raise PermanentError(
            f"The file {name} holds more than {cap:,} rows, the most a report reads; "
            "split it or filter it first."
        )


def _legacy_text(path: Path) -> bool:
    """Text in a single-byte Windows encoding, which the UTF-8 sniffer calls binary."""
    with open(path, "rb") as handle:
        head = handle.read(filetypes.SNIFF_BYTES)
    if b"\x00" in head:
        return False
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV in UTF-8 (with or without BOM) or Windows-1252, with the delimiter sniffed."""
    encoding = _encoding(path)
    with open(path, encoding=encoding, newline="") as handle:
        head = handle.read(_SNIFF_CHARS)
    try:
        return pd.read_csv(
            path,
            sep=_delimiter(head),
            encoding=encoding,
            skipinitialspace=True,
            low_memory=False,
            nrows=get_settings().max_table_rows + 1,
        )
    except pd.errors.EmptyDataError as exc:
        raise PermanentError(f"The file {path.name} has no columns.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PermanentError(f"The file {path.name} is not a well-formed CSV: {exc}") from exc


def _encoding(path: Path) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(4 * 1024 * 1024)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the end of the sample is still UTF-8; anything earlier is not.
        if exc.start < len(raw) - 4:
            return "cp1252"
    return "utf-8-sig"


def _delimiter(head: str) -> str:
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = head.split("\n", 1)[0]
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def read_xlsx(path: Path, sheet: str | int = 0) -> pd.DataFrame:
    """One sheet of a workbook, by name or position (the first by default)."""
    try:
        return pd.read_excel(
            path, sheet_name=sheet, engine="calamine", nrows=get_settings().max_table_rows + 1
        )
    except (ValueError, KeyError) as exc:
        raise PermanentError(f"The workbook {path.name} has no sheet {sheet!r}.") from exc
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise PermanentError(f"The workbook {path.name} could not be read: {exc}") from exc


def read_json(path: Path) -> pd.DataFrame:
    """A list of records, an object holding one, an object of columns, or JSON Lines."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = _json_lines(text, path.name)
    records = _records(payload, path.name)
    check_rows(len(records), path.name)  # before flattening, which costs far more
    return records_frame(records)


def _json_lines(text: str, name: str) -> list[Any]:
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise PermanentError(f"The file {name} is not valid JSON: {exc}") from exc


def _records(payload: Any, name: str) -> list[Any]:
    if isinstance(payload, dict):
        for key in _RECORD_KEYS:
            if isinstance(payload.get(key), list):
                return payload[key]
        if payload and all(isinstance(v, list) for v in payload.values()):
            return pd.DataFrame(payload).to_dict("records")
        if payload and all(isinstance(v, dict) for v in payload.values()):
            return [{"key": k, **v} for k, v in payload.items()]
        return [payload]
    if isinstance(payload, list):
        return payload
    raise PermanentError(f"The file {name} holds a single value, not a table.")


def records_frame(records: list[Any]) -> pd.DataFrame:
    """A DataFrame from records; nested objects become dotted columns, scalars a `value` column."""
    if not records:
        return pd.DataFrame()
    if all(isinstance(r, dict) for r in records):
        frame = pd.json_normalize(records, max_level=2)
        # Lists and deeper objects stay as JSON text: a cell must be one comparable value.
        for name in frame.columns:
            if pd.api.types.is_object_dtype(frame[name]):
                frame[name] = frame[name].map(_scalar)
        return frame
    return pd.DataFrame(
        {"value": [json.dumps(r) if isinstance(r, (dict, list)) else r for r in records]}
    )


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def clean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names as unique, non-empty strings; a blank header becomes `column_<n>`."""
    names: list[str] = []
    seen: set[str] = set()
    for position, column in enumerate(frame.columns, start=1):
        name = str(column).strip()
        if not name or name.startswith("Unnamed: "):
            name = f"column_{position}"
        base, counter = name, 2
        while name in seen:
            name = f"{base}_{counter}"
            counter += 1
        seen.add(name)
        names.append(name)
    frame.columns = names
    return frame
