"""Data-sheet rows as worksheet XML, built a block of rows at a time, a column at a time.

XlsxWriter spends about 5 µs on every cell it writes (argument checks, a cell tuple, an XML
writer call); a 100,000-row report has a million cells. Here each distinct value of a column
in a block is converted once (to the same XML XlsxWriter writes in constant-memory mode) and
the cells are assembled with numpy's element-wise string concatenation, so the cost per cell
is a few object-array operations. The values go through `excel_value` exactly as the
cell-by-cell writer's do: text stays text, never a formula.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import _datetime_to_excel_datetime, xl_col_to_name

from app.reports.cells import excel_value

# Cells converted together: enough to amortise numpy's per-call cost, few enough that a
# block's strings (and the two blocks queued for compression) stay a few MB: 100,000 rows in
# blocks of 5,000 raised the report's peak RSS by 5 MB, in blocks of 2,000 not at all.
BLOCK_CELLS = 20_000


_XLSX_MAX_UTF16 = 32_767
# A string that already looks like an Excel escape must have its underscore escaped, or
# Excel would decode "_x0041_" typed by a user as "A" (the same rule XlsxWriter applies).
_ESCAPE_LIKE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_XML_SPECIAL = re.compile("[&<>]")
# Text that may need anything done to it: markup, control characters, an escape look-alike,
# a formula's first character, whitespace at an end (anything else is written as it is).
_NEEDS_CARE = re.compile(r"[&<>\x00-\x1f\ufffe\uffff]|_x|^[=+\-@\s]|\s\Z")
_PLAIN_CHARS = _XLSX_MAX_UTF16 // 2  # shorter text cannot pass Excel's limit in UTF-16 units
_EXACT_INT = 10**16  # below this, "%d" and XlsxWriter's "%.16G" write the same digits
# Dtypes (as pandas infers them) whose distinct values can be found by hashing: values of
# different types that compare equal (True and 1) would otherwise share one conversion.
_HASHABLE_KINDS = frozenset(
    {
        "string",
        "integer",
        "floating",
        "mixed-integer-float",
        "boolean",
        "datetime",
        "date",
        "datetime64",
        "empty",
    }
)


def block_rows(columns: int) -> int:
    """How many rows of a table `columns` wide go in one block."""
    return max(64, BLOCK_CELLS // max(1, columns))


@dataclass(frozen=True)
class DateStyles:
    """The style (XF) indices the workbook gave the date, datetime and time formats."""

    date: int
    datetime: int
    time: int


def cell_tail(value: Any, styles: DateStyles) -> str:
    """The XML of one cell after `<c r="A1`, or "" when the cell is left empty."""
    value = excel_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'"><v>{value:.16G}</v></c>'
    if isinstance(value, dt.datetime):
        return _date_tail(value, styles.datetime)
    if isinstance(value, dt.date):
        return _date_tail(value, styles.date)
    if isinstance(value, dt.time):
        return _date_tail(value, styles.time)
    return _text_tail(str(value))


def _date_tail(value: dt.date | dt.time, style: int) -> str:
    serial = _datetime_to_excel_datetime(value, False, False)
    return f'" s="{style}"><v>{serial:.16G}</v></c>'


def _text_tail(text: str) -> str:
    if len(text) > _XLSX_MAX_UTF16 // 2 and len(text.encode("utf-16-le")) > 2 * _XLSX_MAX_UTF16:
        # Excel counts UTF-16 units; "ignore" drops a surrogate pair cut in half.
        text = text.encode("utf-16-le")[: 2 * _XLSX_MAX_UTF16].decode("utf-16-le", "ignore")
    if "_x" in text:
        text = _ESCAPE_LIKE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    # Unlike XlsxWriter, "<r>…</r>" is escaped too: typed data is never rich-text markup.
    if _XML_SPECIAL.search(text):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    preserve = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'" t="inlineStr"><is><t{preserve}>{text}</t></is></c>'


def column_tails(values: Sequence[Any], styles: DateStyles) -> np.ndarray:
    """`cell_tail` of every value, as an object array; each distinct value converted once.

    Integer and float columns are formatted by numpy in one call; floats as their shortest
    round-trip text ("0.1"), which Excel reads back as exactly the same number.
    """
    array = values if isinstance(values, (pd.Series, np.ndarray)) else _objects(values)
    if isinstance(array.dtype, np.dtype):
        if array.dtype.kind in "iu":
            numbers = np.asarray(array)
            if numbers.size == 0 or (numbers.max() < _EXACT_INT and numbers.min() > -_EXACT_INT):
                return '"><v>' + numbers.astype(str).astype(object) + "</v></c>"
        elif array.dtype.kind == "f":
            numbers = np.asarray(array, dtype=np.float64)
            finite = np.isfinite(numbers)
            safe = np.where(finite, numbers, 0.0)
            whole = finite & (np.abs(safe) < 1e15) & (safe == np.trunc(safe))
            # 3.0 as "3", as XlsxWriter writes it: no ".0" on every whole number.
            ints = np.where(whole, safe, 0.0).astype(np.int64).astype(str)
            text = np.where(whole, ints, numbers.astype(str)).astype(object)
            return np.where(finite, '"><v>' + text + "</v></c>", "")
    if array.dtype == object and pd.api.types.infer_dtype(array, skipna=True) not in (
        _HASHABLE_KINDS
    ):
        return _objects([cell_tail(v, styles) for v in array])
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    distinct = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    # Code -1 (missing) picks the last entry: an empty cell.
    table = _objects([*_distinct_tails(distinct, styles), ""])
    return table[codes]


def _distinct_tails(values: list[Any], styles: DateStyles) -> list[str]:
    # Most text needs no escaping, no neutralising and no truncation: one regex says so.
    plain = '" t="inlineStr"><is><t>{}</t></is></c>'.format
    return [
        plain(v)
        if v.__class__ is str and 0 < len(v) <= _PLAIN_CHARS and not _NEEDS_CARE.search(v)
        else cell_tail(v, styles)
        for v in values
    ]


def _objects(items: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def block_xml(columns: Sequence[Sequence[Any]], first_row: int, styles: DateStyles) -> str:
    """`<row>` elements for one block of columns, the first at 1-based sheet row `first_row`.

    Rows without a single value are left out, as XlsxWriter leaves them out.
    """
    count = len(columns[0]) if columns else 0
    if count == 0:
        return ""
    numbers = np.arange(first_row, first_row + count).astype(str).astype(object)
    rows = '<row r="' + numbers + '">'
    filled = np.zeros(count, dtype=bool)
    for index, values in enumerate(columns):
        tails = column_tails(values, styles)
        present = tails != ""
        if not present.any():
            continue
        cells = f'<c r="{xl_col_to_name(index)}' + numbers + tails
        rows = rows + np.where(present, cells, "")
        filled |= present
    return "".join((rows[filled] + "</row>").tolist())


def sheet_rows(
    blocks: Iterator[Sequence[Sequence[Any]]], first_row: int, styles: DateStyles, limit: int
) -> Iterator[str]:
    """`block_xml` of each block, numbered on from `first_row`; stops after `limit` rows."""
    row, left = first_row, limit
    for columns in blocks:
        if left <= 0:
            return
        if columns and len(columns[0]) > left:
            columns = [_head(values, left) for values in columns]
        count = len(columns[0]) if columns else 0
        yield block_xml(columns, row, styles)
        row, left = row + count, left - count


def _head(values: Sequence[Any], count: int) -> Sequence[Any]:
    return values.iloc[:count] if isinstance(values, pd.Series) else values[:count]
