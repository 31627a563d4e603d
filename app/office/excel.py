"""Excel workbooks (.xlsx): analyse, convert to CSV and JSON, and total columns.

Values are read with python-calamine (Rust, several times faster than openpyxl) and flow
through the operations one row at a time: every requested operation sees each row once, and
no list of rows is ever built in Python. calamine holds one sheet's cell grid in native
memory while reading it, so very large sheets are streamed by openpyxl instead
(excel_stream): memory has a ceiling whatever the row count. Saved results are read, never
formulas; formulas with no saved result are reported (see excel_formulas).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import python_calamine
from openpyxl.utils import get_column_letter

from app.errors import PermanentError
from app.office import excel_stream
from app.office.excel_formulas import FormulaStats, formula_report, sheet_parts
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of
from app.reports.cells import csv_value as safe_cell

OPERATIONS: dict[str, str] = {
    "analyze": "Analyse each sheet",
    "convert": "Convert each sheet to CSV and JSON",
    "calculate": "Total the numeric columns",
    "to_pdf": "Convert to PDF (LibreOffice)",  # run by runner.process_file
}
DEFAULT_OPERATIONS = ("analyze",)
FORMATS = ("csv", "json")

PREVIEW_ROWS = 10
PREVIEW_COLUMNS = 12
PREVIEW_CHARS = 60
PREVIEW_SHEETS = 5
MAX_GROUPS = 10_000
SUMMARY_GROUPS = 20
MAX_LISTED_RANGES = 50
PROGRESS_EVERY = 5000
TYPE_MAJORITY = 0.9

Cell = Any


def open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise PermanentError("This Excel workbook is protected with a password.") from None
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise PermanentError(f"This Excel workbook could not be read: {exc}") from None


def process(
    path: Path,
    operations: list[str],
    out: OutputFolder,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run the operations in one streaming pass per sheet; returns {operation: summary}."""
    options = options or {}
    formats = _formats(options.get("formats"))
    workbook = open_workbook(path)
    with workbook:
        names = _sheet_names(workbook, options.get("sheets"))
        formulas = _formula_report(path, names)
        parts = sheet_parts(path)
        sizes = excel_stream.part_sizes(path, parts)
        results: dict[str, dict[str, Any]] = {op: {"sheets": [], "notes": []} for op in operations}
        for index, name in enumerate(names):
            progress(index, len(names), f"Reading sheet '{name}'")
            if sizes.get(name, 0) > excel_stream.STREAM_ABOVE_BYTES:
                sheet = excel_stream.StreamedSheet(path, name, parts[name])
            else:
                sheet = _load_sheet(workbook, name)
            stats = formulas.get(name, FormulaStats())
            context = SheetContext(name, sheet, stem_of(path), stats)
            visitors = _visitors(operations, context, out, formats, options)
            stream_rows(sheet, visitors, context, progress)
            _collect(results, operations, visitors, context, show_preview=index < PREVIEW_SHEETS)
    return results


def _formats(requested: Any) -> tuple[str, ...]:
    if not requested:
        return FORMATS
    chosen = tuple(f.lower() for f in ([requested] if isinstance(requested, str) else requested))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise PermanentError(f"Sheets can be converted to CSV or JSON, not {', '.join(unknown)}.")
    return chosen


def _sheet_names(workbook: python_calamine.CalamineWorkbook, wanted: Any) -> list[str]:
    names = [
        meta.name
        for meta in workbook.sheets_metadata
        if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
    ]
    if not wanted:
        return names
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [w for w in wanted if w not in names]
    if missing:
        raise PermanentError(
            f"This workbook has no sheet called {', '.join(map(repr, missing))}. "
            f"Its sheets are {', '.join(map(repr, names))}."
        )
    return [n for n in names if n in wanted]


def _formula_report(path: Path, names: list[str]) -> dict[str, FormulaStats]:
    try:
        return formula_report(path, names)
    except Exception as exc:  # openpyxl raises many types on odd files; values still read
        raise PermanentError(
            f"The formulas of this Excel workbook could not be read: {exc}"
        ) from None


def _load_sheet(workbook: python_calamine.CalamineWorkbook, name: str) -> Any:
    try:
        return workbook.get_sheet_by_name(name)
    except python_calamine.CalamineError as exc:
        raise PermanentError(f"Sheet '{name}' could not be read: {exc}") from None


# the row stream ---------------------------------------------------------------------------


class SheetContext:
    """What every visitor knows about the sheet being read."""

    def __init__(self, name: str, sheet: Any, stem: str, formulas: FormulaStats) -> None:
        self.name = name
        self.stem = stem
        self.formulas = formulas
        self.start = sheet.start
        self.end = sheet.end
        self.height = sheet.height
        self.width = sheet.width
        self.merged = [_range_name(a, b) for a, b in (sheet.merged_cell_ranges or [])]
        self.header: list[str] | None = None
        self.columns: list[str] = []

    @property
    def used_range(self) -> str | None:
        if self.start is None or self.end is None:
            return None
        return _range_name(self.start, self.end)

    def set_columns(self, first_row: list[Cell] | None) -> None:
        """Column names: the first row when it looks like a header, else column letters."""
        offset = self.start[1] if self.start else 0
        letters = [get_column_letter(offset + i + 1) for i in range(self.width)]
        if first_row is not None and self.height > 1 and _looks_like_header(first_row):
            self.header = _unique_names(
                [letters[i] if _blank(v) else str(v).strip() for i, v in enumerate(first_row)]
            )
            self.columns = self.header
        else:
            self.columns = letters


def _blank(value: Cell) -> bool:
    """calamine reads an empty cell as '', openpyxl as None."""
    return value is None or value == ""


def _looks_like_header(row: list[Cell]) -> bool:
    filled = [v for v in row if not _blank(v)]
    return bool(filled) and all(isinstance(v, str) for v in filled)


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _range_name(start: tuple[int, int], end: tuple[int, int]) -> str:
    first = f"{get_column_letter(start[1] + 1)}{start[0] + 1}"
    last = f"{get_column_letter(end[1] + 1)}{end[0] + 1}"
    return first if first == last else f"{first}:{last}"


def stream_rows(sheet: Any, visitors: list, context: SheetContext, progress: Progress) -> None:
    """Hand each row to every visitor; the header row, when there is one, only to `header`."""
    rows = sheet.iter_rows()
    first = next(rows, None)
    context.set_columns(first)
    for visitor in visitors:
        visitor.begin()
    if first is not None:
        _feed(visitors, first, is_header=context.header is not None)
    for number, row in enumerate(rows, start=2):
        _feed(visitors, row, is_header=False)
        if number % PROGRESS_EVERY == 0:
            progress(number, context.height, f"Sheet '{context.name}': row {number:,}")


def _feed(visitors: list, row: list[Cell], is_header: bool) -> None:
    for visitor in visitors:
        if is_header:
            visitor.header_row(row)
        else:
            visitor.row(row)


def _visitors(
    operations: list[str],
    context: SheetContext,
    out: OutputFolder,
    formats: tuple[str, ...],
    options: dict[str, Any],
) -> list:
    factories: dict[str, Callable[[], Any]] = {
        "analyze": lambda: Analyzer(context),
        "convert": lambda: Converter(context, out, formats),
        "calculate": lambda: Calculator(context, out, options.get("group_by")),
    }
    return [Previewer(context)] + [factories[op]() for op in operations]


def _collect(
    results: dict[str, dict[str, Any]],
    operations: list[str],
    visitors: list,
    context: SheetContext,
    show_preview: bool,
) -> None:
    preview = visitors[0].finish()
    for index, (operation, visitor) in enumerate(zip(operations, visitors[1:])):
        summary = visitor.finish()
        if show_preview and index == 0:
            summary["preview"] = preview
        results[operation]["sheets"].append(summary)
        note = context.formulas.note(context.name)
        if note:
            results[operation]["notes"].append(note)


class Visitor(ABC):
    """Sees the rows of one sheet once, in order, and summarises them at the end."""

    def __init__(self, context: SheetContext) -> None:
        self.context = context

    def begin(self) -> None:  # noqa: B027 - an optional hook, most visitors need no setup
        """Called once the column names are known."""

    def header_row(self, row: list[Cell]) -> None:
        self.row(row)

    @abstractmethod
    def row(self, row: list[Cell]) -> None:
        """One data row of the used range."""

    @abstractmethod
    def finish(self) -> dict[str, Any]:
        """The summary of this visitor's operation for the sheet."""


class Previewer(Visitor):
    """The first rows, shortened, for showing the sheet as a table."""

    def __init__(self, context: SheetContext) -> None:
        super().__init__(context)
        self.rows: list[list[Any]] = []

    def header_row(self, row: list[Cell]) -> None:
        """The header is shown as the column names."""

    def row(self, row: list[Cell]) -> None:
        if len(self.rows) < PREVIEW_ROWS:
            self.rows.append([_short(json_value(v)) for v in row[:PREVIEW_COLUMNS]])

    def finish(self) -> dict[str, Any]:
        return {"columns": self.context.columns[:PREVIEW_COLUMNS], "rows": self.rows}


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > PREVIEW_CHARS:
        return value[: PREVIEW_CHARS - 1] + "…"
    return value


# cell values --------------------------------------------------------------------------------


def kind_of(value: Cell) -> str:
    """The type a person would name for a cell value."""
    if value == "" or value is None:
        return "empty"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (dt.datetime, dt.date)):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, dt.timedelta):
        return "duration"
    return "text"


def is_number(value: Cell) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def csv_value(value: Cell) -> Any:
    """A cell as CSV text: whole numbers without '.0', dates in ISO 8601, TRUE/FALSE."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is dt.datetime:
        return value.isoformat(sep=" ")
    if kind in (dt.date, dt.time):
        return value.isoformat()
    if kind is dt.timedelta:
        return str(value)
    return value


def json_value(value: Cell) -> Any:
    """A cell as a JSON value: empty cells are null, dates ISO 8601 strings."""
    kind = type(value)
    if kind is str:
        return value if value != "" else None
    if kind is float:
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    if kind in (dt.datetime, dt.date, dt.time):
        return value.isoformat()
    if kind is dt.timedelta:
        return value.total_seconds()
    return value


# analyze --------------------------------------------------------------------------------------


class ColumnStats:
    __slots__ = ("count", "kinds", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value: Cell) -> None:
        kind = kind_of(value)
        self.kinds[kind] += 1
        if kind == "number":
            self.count += 1
            self.total += value
            if value < self.minimum:
                self.minimum = value
            if value > self.maximum:
                self.maximum = value

    def describe(self, name: str) -> dict[str, Any]:
        filled = {k: n for k, n in self.kinds.items() if k != "empty"}
        summary: dict[str, Any] = {
            "name": name,
            "type": infer_type(filled),
            "values": sum(filled.values()),
            "empty": self.kinds.get("empty", 0),
        }
        if self.count:
            summary.update(
                min=_number(self.minimum),
                max=_number(self.maximum),
                sum=_number(self.total),
                mean=_number(self.total / self.count),
            )
        return summary


def infer_type(kinds: dict[str, int]) -> str:
    """The column's type: the kind of (nearly) all its values, else 'mixed'."""
    total = sum(kinds.values())
    if not total:
        return "empty"
    kind, count = max(kinds.items(), key=lambda item: item[1])
    return kind if count >= TYPE_MAJORITY * total else "mixed"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else round(value, 10)


class Analyzer(Visitor):
    """Used range, counts, column types and numeric statistics, merged ranges and formulas."""

    def begin(self) -> None:
        self.columns = [ColumnStats() for _ in self.context.columns]
        self.rows = 0

    def header_row(self, row: list[Cell]) -> None:
        self.rows += 1

    def row(self, row: list[Cell]) -> None:
        self.rows += 1
        for stats, value in zip(self.columns, row):
            stats.add(value)

    def finish(self) -> dict[str, Any]:
        context = self.context
        columns = [s.describe(n) for s, n in zip(self.columns, context.columns)]
        return {
            "sheet": context.name,
            "used_range": context.used_range,
            "rows": self.rows,
            "data_rows": self.rows - 1 if context.header is not None else self.rows,
            "columns": len(columns),
            "has_header": context.header is not None,
            "empty_cells": sum(c["empty"] for c in columns),
            "formulas": context.formulas.formulas,
            "formulas_without_cached_value": context.formulas.without_cached_value,
            "merged_ranges": context.merged[:MAX_LISTED_RANGES],
            "merged_range_count": len(context.merged),
            "column_stats": columns,
        }


# convert ---------------------------------------------------------------------------------------


class Converter(Visitor):
    """Writes the sheet to CSV and/or JSON as the rows go by."""

    def __init__(self, context: SheetContext, out: OutputFolder, formats: tuple[str, ...]) -> None:
        super().__init__(context)
        self.out = out
        self.formats = formats
        self.rows = 0
        self.files: list[str] = []
        self._csv_file: TextIO | None = None
        self._csv: Any = None
        self._json_file: TextIO | None = None
        self._first_json = True

    def begin(self) -> None:
        base = f"{self.context.stem}-{self.context.name}"
        if "csv" in self.formats:
            path = self.out.path(f"{base}.csv")
            # Open across calls: rows arrive one by one; finish() closes it.
            self._csv_file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._csv = csv.writer(self._csv_file)
            self.files.append(path.name)
        if "json" in self.formats:
            path = self.out.path(f"{base}.json")
            self._json_file = open(path, "w", encoding="utf-8")  # noqa: SIM115
            self._json_file.write("[")
            self.files.append(path.name)

    def header_row(self, row: list[Cell]) -> None:
        if self._csv is not None:
            self._csv.writerow([safe_cell(csv_value(v)) for v in row])

    def row(self, row: list[Cell]) -> None:
        self.rows += 1
        if self._csv is not None:
            self._csv.writerow([safe_cell(csv_value(v)) for v in row])
        if self._json_file is not None:
            record = {k: json_value(v) for k, v in zip(self.context.columns, row)}
            prefix = "\n" if self._first_json else ",\n"
            self._json_file.write(prefix + json.dumps(record, ensure_ascii=False, default=str))
            self._first_json = False

    def finish(self) -> dict[str, Any]:
        if self._csv_file is not None:
            self._csv_file.close()
        if self._json_file is not None:
            self._json_file.write("\n]\n")
            self._json_file.close()
        return {"sheet": self.context.name, "rows": self.rows, "files": self.files}


# calculate -------------------------------------------------------------------------------------


class Calculator(Visitor):
    """Sum, count, mean, min and max of every numeric column, optionally per group."""

    def __init__(self, context: SheetContext, out: OutputFolder, group_by: str | None) -> None:
        super().__init__(context)
        self.out = out
        self.group_by = group_by
        self.notes: list[str] = []

    def begin(self) -> None:
        self.totals = [ColumnStats() for _ in self.context.columns]
        self.group_index = self._group_column()
        self.groups: dict[str, list[float]] = {}
        self.group_rows: Counter[str] = Counter()
        self.groups_capped = False

    def _group_column(self) -> int | None:
        if not self.group_by:
            return None
        wanted = str(self.group_by).strip()
        names = self.context.columns
        for index, name in enumerate(names):
            if name.casefold() == wanted.casefold():
                return index
        offset = self.context.start[1] if self.context.start else 0
        for index in range(len(names)):
            if get_column_letter(offset + index + 1) == wanted.upper():
                return index
        self.notes.append(
            f"Sheet '{self.context.name}' has no column '{wanted}' to group by; "
            "only the totals were calculated."
        )
        return None

    def header_row(self, row: list[Cell]) -> None:
        """Header cells are names, not values."""

    def row(self, row: list[Cell]) -> None:
        for stats, value in zip(self.totals, row):
            stats.add(value)
        if self.group_index is not None and self.group_index < len(row):
            self._add_to_group(row)

    def _add_to_group(self, row: list[Cell]) -> None:
        key = csv_value(row[self.group_index])
        key = "" if key is None else str(key)
        sums = self.groups.get(key)
        if sums is None:
            if len(self.groups) >= MAX_GROUPS:
                self.groups_capped = True
                return
            sums = self.groups[key] = [0.0] * len(self.context.columns)
        self.group_rows[key] += 1
        for index, value in enumerate(row):
            if is_number(value):
                sums[index] += value

    def finish(self) -> dict[str, Any]:
        columns = self.context.columns
        numeric = [
            i for i, stats in enumerate(self.totals) if infer_type(_filled(stats)) == "number"
        ]
        totals = [
            {k: v for k, v in self.totals[i].describe(columns[i]).items() if k != "type"}
            for i in numeric
        ]
        summary: dict[str, Any] = {"sheet": self.context.name, "totals": totals}
        if self.group_index is not None:
            summary.update(self._group_summary(numeric))
        if self.notes:
            summary["notes"] = self.notes
        return summary

    def _group_summary(self, numeric: list[int]) -> dict[str, Any]:
        columns = self.context.columns
        header = [columns[self.group_index], "rows"] + [f"{columns[i]} (sum)" for i in numeric]
        rows = []
        for key in sorted(self.groups, key=_natural):
            sums = self.groups[key]
            rows.append([key, self.group_rows[key]] + [_number(sums[i]) for i in numeric])
        name = self.out.write_text(
            f"{self.context.stem}-{self.context.name}-by-{columns[self.group_index]}.csv",
            _csv_text([header, *rows]),
        )
        result: dict[str, Any] = {
            "group_by": columns[self.group_index],
            "groups": len(rows),
            "group_columns": header,
            "group_rows": rows[:SUMMARY_GROUPS],
            "group_file": name,
        }
        if self.groups_capped:
            self.notes.append(
                f"Grouping stopped at {MAX_GROUPS:,} distinct values; later new values "
                "were left out of the groups (the totals include every row)."
            )
        return result


def _filled(stats: ColumnStats) -> dict[str, int]:
    return {k: n for k, n in stats.kinds.items() if k != "empty"}


def _natural(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key.casefold())


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue()
