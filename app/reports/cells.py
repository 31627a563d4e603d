"""Cell values made safe for spreadsheets: no formula injection, no values Excel rejects."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_CHARS = 32767
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(text: str) -> str:
    """The text with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_value(value: Any) -> Any:
    """A value for a CSV cell: strings neutralised, missing values empty."""
    if isinstance(value, str):
        return neutralise(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def excel_value(value: Any) -> Any:
    """A value openpyxl stores as data: text never becomes a formula, NaN becomes an empty cell."""
    if isinstance(value, str):
        return _excel_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    return _excel_other(value)


def _excel_text(value: str) -> str | None:
    if not value:
        return None
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("\ufffd", value)
    return neutralise(value)[:EXCEL_MAX_CHARS]


def _excel_other(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value != value:  # NaT
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, (dt.date, dt.time)):
        return value
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars
        return excel_value(item())
    try:
        if value != value:  # NaN-likes are not equal to themselves
            return None
    except TypeError:  # pd.NA: its comparison is NA again, which has no truth value
        return None
    return _excel_text(str(value))
