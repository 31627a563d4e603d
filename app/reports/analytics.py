"""Analytics over one table: column statistics, group-by aggregates, top-N rows, time series."""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.errors import PermanentError

TEXT, NUMBER, DATE, BOOLEAN, EMPTY = "text", "number", "date", "boolean", "empty"
_PARSE_SHARE = 0.9  # a text column becomes numbers or dates when this share of values parse
_SAMPLE = 500
_MAX_GROUPS = 200
_DATE_HINT = re.compile(r"\d{1,4}[-/.:]\d{1,2}")
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|key|index)$", re.IGNORECASE)


@dataclass
class AnalyticsOptions:
    """What the user asked for; columns left as None are chosen from the data."""

    title: str = "Data report"
    group_by: str | None = None
    value_column: str | None = None
    date_column: str | None = None
    top_n: int = 10
    sample_rows: int = 100
    sample_columns: int = 10
    histogram_bins: int = 20


@dataclass
class Analysis:
    """The numbers behind a report; small enough to keep in memory next to the data."""

    rows: int
    kinds: dict[str, str]
    invalid: dict[str, int]
    columns: list[dict[str, Any]]
    group_by: str | None = None
    value_column: str | None = None
    date_column: str | None = None
    groups: pd.DataFrame | None = None
    group_count: int = 0
    top_rows: pd.DataFrame | None = None
    time_series: pd.DataFrame | None = None
    period: str = ""
    histogram: tuple[list[str], list[int]] | None = None
    notes: list[str] = field(default_factory=list)

    def columns_of(self, kind: str) -> list[str]:
        return [name for name, k in self.kinds.items() if k == kind]


def analyse(frame: pd.DataFrame, options: AnalyticsOptions) -> tuple[Analysis, pd.DataFrame]:
    """The analysis of `frame` and the typed copy it was computed on."""
    typed, kinds, invalid = infer_types(frame)
    analysis = Analysis(
        rows=len(typed),
        kinds=kinds,
        invalid=invalid,
        columns=[column_stats(typed[c], kinds[c], invalid.get(c, 0)) for c in typed.columns],
    )
    analysis.group_by = _pick(options.group_by, typed, kinds, _group_candidates)
    analysis.value_column = _pick(options.value_column, typed, kinds, _value_candidates)
    analysis.date_column = _pick(options.date_column, typed, kinds, _date_candidates)
    _add_groups(analysis, typed, options.top_n)
    _add_top_rows(analysis, frame, typed, options.top_n)
    _add_time_series(analysis, typed)
    _add_histogram(analysis, typed, options.histogram_bins)
    return analysis, typed


# types -------------------------------------------------------------------------------------


def infer_types(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], dict[str, int]]:
    """A copy whose text columns holding numbers or dates are converted, with each column's kind.

    `invalid` counts values that did not parse in a converted column: "n/a" among numbers.
    """
    typed = pd.DataFrame(index=frame.index)
    kinds: dict[str, str] = {}
    invalid: dict[str, int] = {}
    for name in frame.columns:
        column, kind, bad = _infer_column(frame[name])
        typed[name] = column
        kinds[name] = kind
        if bad:
            invalid[name] = bad
    return typed, kinds, invalid


def _infer_column(series: pd.Series) -> tuple[pd.Series, str, int]:
    present = int(series.notna().sum())
    if present == 0:
        return series, EMPTY, 0
    if pd.api.types.is_bool_dtype(series):
        return series, BOOLEAN, 0
    if pd.api.types.is_numeric_dtype(series):
        return series, NUMBER, 0
    if pd.api.types.is_datetime64_any_dtype(series):
        return series, DATE, 0
    text = series.where(series.isna(), series.astype(str).str.strip())
    text = text.where(text != "", None)
    present = int(text.notna().sum())
    if present == 0:
        return series, EMPTY, 0
    for convert, kind in ((_as_numbers, NUMBER), (_as_dates, DATE)):
        converted = convert(text)
        if converted is not None:
            return converted, kind, present - int(converted.notna().sum())
    return series, TEXT, 0


def _as_numbers(text: pd.Series) -> pd.Series | None:
    sample = text.dropna().head(_SAMPLE)
    if pd.to_numeric(sample, errors="coerce").notna().mean() < _PARSE_SHARE:
        return None
    numbers = pd.to_numeric(text, errors="coerce")
    return numbers if numbers.notna().sum() >= _PARSE_SHARE * text.notna().sum() else None


def _as_dates(text: pd.Series) -> pd.Series | None:
    sample = text.dropna().head(_SAMPLE).astype(str)
    if sample.str.contains(_DATE_HINT).mean() < _PARSE_SHARE:
        return None
    for fmt in ("ISO8601", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns when it has to guess a format
            if pd.to_datetime(sample, errors="coerce", format=fmt).notna().mean() < _PARSE_SHARE:
                continue
            dates = pd.to_datetime(text, errors="coerce", format=fmt)
        if dates.notna().sum() >= _PARSE_SHARE * text.notna().sum():
            return _naive(dates)
    return None


def _naive(dates: pd.Series) -> pd.Series:
    """Dates in UTC without a zone: Excel cannot store zones and periods need none."""
    if getattr(dates.dt, "tz", None) is not None:
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


# per-column statistics -------------------------------------------------------------------


def column_stats(series: pd.Series, kind: str, invalid: int = 0) -> dict[str, Any]:
    """Count, missing and distinct values for any column, plus what its kind allows."""
    count = int(series.notna().sum())
    stats: dict[str, Any] = {
        "column": str(series.name),
        "type": kind,
        "count": count,
        "missing": int(len(series) - count),
        "unique": int(series.nunique(dropna=True)) if kind != EMPTY else 0,
        "invalid": invalid,
    }
    if kind == NUMBER and count:
        stats.update(_number_stats(series.astype(float)))
    elif kind == DATE and count:
        stats.update({"min": series.min(), "max": series.max()})
    elif kind in (TEXT, BOOLEAN) and count:
        stats["most_common"] = _most_common(series, 3)
    return stats


def _number_stats(series: pd.Series) -> dict[str, Any]:
    finite = series[np.isfinite(series)]
    if finite.empty:
        return {}
    q25, median, q75 = finite.quantile([0.25, 0.5, 0.75]).tolist()
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std()) if len(finite) > 1 else 0.0,
        "min": float(finite.min()),
        "p25": q25,
        "median": median,
        "p75": q75,
        "max": float(finite.max()),
        "sum": float(finite.sum()),
    }


def _most_common(series: pd.Series, n: int) -> list[tuple[str, int]]:
    counts = series.astype(str).value_counts(dropna=True).head(n)
    return [(str(value), int(count)) for value, count in counts.items()]


# choosing columns ------------------------------------------------------------------------


def _pick(chosen: str | None, typed: pd.DataFrame, kinds: dict[str, str], candidates) -> str | None:
    if chosen:
        if chosen not in typed.columns:
            raise PermanentError(f"The data has no column called '{chosen}'.")
        return chosen
    found = candidates(typed, kinds)
    return found[0] if found else None


def _group_candidates(typed: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    limit = min(_MAX_GROUPS, max(2, len(typed) // 2))
    return [
        name
        for name, kind in kinds.items()
        if kind in (TEXT, BOOLEAN) and 2 <= typed[name].nunique() <= limit
    ]


def _value_candidates(typed: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    return [
        name
        for name, kind in kinds.items()
        if kind == NUMBER and not _looks_like_id(name, typed[name])
    ]


def _looks_like_id(name: str, series: pd.Series) -> bool:
    if _ID_NAME.search(name):
        return True
    values = series.dropna()
    return (
        len(values) > 10
        and values.is_unique
        and bool((values % 1 == 0).all())
        and (values.is_monotonic_increasing)
    )


def _date_candidates(typed: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    return [name for name, kind in kinds.items() if kind == DATE]


# aggregates --------------------------------------------------------------------------------


def _add_groups(analysis: Analysis, typed: pd.DataFrame, top_n: int) -> None:
    if not analysis.group_by:
        return
    keys = (
        typed[analysis.group_by]
        .astype("object")
        .where(typed[analysis.group_by].notna(), "(blank)")
        .astype(str)
    )
    if analysis.value_column:
        values = typed[analysis.value_column].astype(float)
        table = values.groupby(keys).agg(["count", "sum", "mean", "min", "max"])
        table = table.sort_values("sum", ascending=False)
    else:
        table = keys.value_counts().rename("count").to_frame()
    analysis.group_count = len(table)
    analysis.groups = table.head(top_n)


def _add_top_rows(analysis: Analysis, frame: pd.DataFrame, typed: pd.DataFrame, top_n: int) -> None:
    if not analysis.value_column:
        return
    order = typed[analysis.value_column].astype(float).nlargest(top_n).index
    analysis.top_rows = frame.loc[order]


def _add_time_series(analysis: Analysis, typed: pd.DataFrame) -> None:
    if not analysis.date_column:
        return
    dates = typed[analysis.date_column]
    if analysis.kinds.get(analysis.date_column) != DATE or dates.notna().sum() < 2:
        return
    span_days = (dates.max() - dates.min()).days
    period = "D" if span_days <= 62 else "M" if span_days <= 5 * 366 else "Y"
    periods = dates.dt.to_period(period)
    grouped = typed.groupby(periods)
    series = grouped.size().rename("count").to_frame()
    if analysis.value_column:
        series["sum"] = grouped[analysis.value_column].sum(min_count=1)
    series.index = series.index.astype(str)
    analysis.time_series = series
    analysis.period = {"D": "day", "M": "month", "Y": "year"}[period]


def _add_histogram(analysis: Analysis, typed: pd.DataFrame, bins: int) -> None:
    if not analysis.value_column:
        return
    values = typed[analysis.value_column].astype(float).to_numpy()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    counts, edges = np.histogram(values, bins=bins if np.ptp(values) > 0 else 1)
    labels = [f"{_short(lo)} – {_short(hi)}" for lo, hi in itertools.pairwise(edges)]
    analysis.histogram = (labels, [int(c) for c in counts])


def _short(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.3e}"
