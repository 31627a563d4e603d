"""Turns an Analysis into a Report: the facts, tables and charts a reader sees."""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.reports.analytics import DATE, NUMBER, Analysis, AnalyticsOptions, analyse
from app.reports.model import Chart, DataSheet, ExecutiveSummary, Report, Section, Table, display

_STAT_COLUMNS = [
    "Column",
    "Type",
    "Values",
    "Missing",
    "Unique",
    "Mean",
    "Std",
    "Min",
    "Median",
    "Max",
    "Most common",
]
_CELL_CHARS = 80


def analytics_report(
    frame: pd.DataFrame,
    options: AnalyticsOptions,
    *,
    source_name: str = "",
    summary: ExecutiveSummary | None = None,
) -> tuple[Report, Analysis]:
    """The full analytics report for `frame`, and the analysis it was built from."""
    analysis, _typed = analyse(frame, options)
    report = Report(
        title=options.title,
        subtitle=f"Source: {source_name}" if source_name else "",
        facts=_facts(analysis),
        sections=[
            s
            for s in (
                _columns_section(analysis),
                _groups_section(analysis),
                _top_section(analysis),
                _time_section(analysis),
                _distribution_section(analysis),
            )
            if s
        ],
        sample=sample_table(frame, options.sample_rows, options.sample_columns),
        summary=summary,
        data=data_sheet(frame),
    )
    return report, analysis


def data_sheet(frame: pd.DataFrame) -> DataSheet:
    """Every row of `frame`, produced lazily so no second copy of the data is made up front."""

    def rows():
        return frame.itertuples(index=False, name=None)

    def blocks(size: int):
        for start in range(0, len(frame), size):
            block = frame.iloc[start : start + size]
            yield [block.iloc[:, index] for index in range(block.shape[1])]

    return DataSheet(
        columns=[str(c) for c in frame.columns], row_count=len(frame), rows=rows, blocks=blocks
    )


def sample_table(frame: pd.DataFrame, max_rows: int, max_columns: int) -> Table:
    """The first rows and columns of the data, saying how much was left out."""
    shown = frame.iloc[:max_rows, :max_columns]
    rows = [[_clip(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    note = (
        f"Showing {len(shown):,} of {len(frame):,} rows and {shown.shape[1]} of "
        f"{frame.shape[1]} columns; the XLSX data sheet and the exports carry every row."
    )
    return Table("Sample of the data", [str(c) for c in shown.columns], rows, note)


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _CELL_CHARS:
        return value[: _CELL_CHARS - 1] + "…"
    return value


def _facts(analysis: Analysis) -> list[tuple[str, str]]:
    cells = analysis.rows * len(analysis.kinds)
    missing = sum(c["missing"] for c in analysis.columns)
    facts = [
        ("Rows", f"{analysis.rows:,}"),
        ("Columns", f"{len(analysis.kinds):,}"),
        ("Numeric columns", f"{len(analysis.columns_of(NUMBER)):,}"),
        ("Missing cells", f"{missing / cells:.1%}" if cells else "0%"),
    ]
    value = _stats_of(analysis, analysis.value_column)
    if value and "sum" in value:
        facts.append((f"Total {analysis.value_column}", display(value["sum"])))
    dates = _stats_of(analysis, analysis.date_column)
    if dates and "min" in dates:
        facts.append(("Date range", f"{dates['min']:%Y-%m-%d} to {dates['max']:%Y-%m-%d}"))
    return facts


def _stats_of(analysis: Analysis, column: str | None) -> dict[str, Any] | None:
    return next((c for c in analysis.columns if c["column"] == column), None)


def _columns_section(analysis: Analysis) -> Section:
    rows = [_stat_row(stats) for stats in analysis.columns]
    paragraphs = [
        f"Column {name} has {count:,} values that are not {analysis.kinds[name]}s; they are "
        "left out of its statistics."
        for name, count in analysis.invalid.items()
    ]
    empty = [c["column"] for c in analysis.columns if c["type"] == "empty"]
    if empty:
        paragraphs.append("Empty columns: " + ", ".join(empty) + ".")
    return Section(
        "Column statistics",
        paragraphs,
        [Table("Summary statistics per column", _STAT_COLUMNS, rows)],
    )


def _stat_row(stats: dict[str, Any]) -> list[Any]:
    def fmt(key: str) -> Any:
        value = stats.get(key)
        if value is None:
            return ""
        return f"{value:%Y-%m-%d}" if stats["type"] == DATE else value

    common = ", ".join(f"{v} ({n:,})" for v, n in stats.get("most_common", []))
    return [
        stats["column"],
        stats["type"],
        stats["count"],
        stats["missing"],
        stats["unique"],
        fmt("mean"),
        fmt("std"),
        fmt("min"),
        fmt("median"),
        fmt("max"),
        common,
    ]


def _groups_section(analysis: Analysis) -> Section | None:
    if analysis.groups is None:
        return None
    table = analysis.groups
    measure = "sum" if "sum" in table.columns else "count"
    columns = [analysis.group_by or "group", *[str(c) for c in table.columns]]
    rows = [
        [key, *values] for key, values in zip(table.index, table.itertuples(index=False, name=None))
    ]
    note = (
        f"The {len(table)} largest of {analysis.group_count:,} groups."
        if analysis.group_count > len(table)
        else ""
    )
    title = (
        f"{analysis.value_column} by {analysis.group_by}"
        if analysis.value_column
        else f"Rows by {analysis.group_by}"
    )
    chart = Chart(
        "bar",
        f"{measure.title()} of {analysis.value_column or 'rows'} by {analysis.group_by}",
        [str(k) for k in table.index],
        [float(v) for v in table[measure]],
        analysis.group_by or "",
        measure,
    )
    return Section(f"Groups: {title}", [], [Table(title, columns, rows, note)], [chart])


def _top_section(analysis: Analysis) -> Section | None:
    if analysis.top_rows is None or analysis.top_rows.empty:
        return None
    frame = analysis.top_rows.iloc[:, :10]
    rows = [[_clip(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    title = f"Top {len(frame)} rows by {analysis.value_column}"
    return Section(title, [], [Table(title, [str(c) for c in frame.columns], rows)])


def _time_section(analysis: Analysis) -> Section | None:
    series = analysis.time_series
    if series is None:
        return None
    columns = [analysis.period.title(), *[str(c) for c in series.columns]]
    rows = [
        [period, *values]
        for period, values in zip(series.index, series.itertuples(index=False, name=None))
    ]
    measure = "sum" if "sum" in series.columns else "count"
    chart = Chart(
        "line",
        f"{measure.title()} of {analysis.value_column or 'rows'} per {analysis.period}",
        list(series.index),
        [float(v) if pd.notna(v) else 0.0 for v in series[measure]],
        analysis.period,
        measure,
    )
    return Section(
        f"Over time: {analysis.date_column} by {analysis.period}",
        [],
        [Table(f"Per {analysis.period}", columns, rows)],
        [chart],
    )


def _distribution_section(analysis: Analysis) -> Section | None:
    if analysis.histogram is None:
        return None
    labels, counts = analysis.histogram
    chart = Chart(
        "histogram",
        f"Distribution of {analysis.value_column}",
        labels,
        [float(c) for c in counts],
        analysis.value_column or "",
        "rows",
    )
    return Section(f"Distribution of {analysis.value_column}", [], [], [chart])
