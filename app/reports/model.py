"""The shape every report has, whatever produced it: the renderers only ever see these."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ChartKind = Literal["bar", "line", "histogram"]
Progress = Callable[[int, int, str], None]


@dataclass
class Table:
    """A small table shown in every format: a title, column headers and rows of plain values."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Chart:
    """One data series over categories; rendered as an image and as a native Excel chart."""

    kind: ChartKind
    title: str
    categories: list[str]
    values: list[float]
    x_label: str = ""
    y_label: str = ""


@dataclass
class Section:
    """A titled part of a report: sentences, tables and charts, shown in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class ExecutiveSummary:
    """Prose about the report, labelled with who wrote it so nobody mistakes rules for an AI."""

    text: str
    source: str
    model: str = ""


@dataclass
class DataSheet:
    """Every row of the underlying data, streamed: only the XLSX data sheet reads all of it."""

    columns: list[str]
    row_count: int  # exactly how many rows rows() yields: the XLSX states it before the rows
    rows: Callable[[], Iterator[Sequence[Any]]]
    name: str = "Data"
    # The same rows as blocks of columns (at most n rows each), when the data is columnar
    # already: the XLSX writer converts a column at a time and need not build row tuples.
    blocks: Callable[[int], Iterator[list[Sequence[Any]]]] | None = None

    def column_blocks(self, size: int) -> Iterator[list[Sequence[Any]]]:
        """Every row, in order, as lists of columns of at most `size` rows each."""
        if self.blocks is not None:
            yield from self.blocks(size)
            return
        rows = iter(self.rows())
        width = len(self.columns)
        while block := list(itertools.islice(rows, size)):
            # Short rows are padded so every column has one value per row.
            padded = (
                row if len(row) == width else [*row, *[None] * width][:width] for row in block
            )
            yield [list(column) for column in zip(*padded)] if width else []


@dataclass
class Report:
    """A finished analysis ready to render; holds summaries, never the full data set."""

    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    sample: Table | None = None
    summary: ExecutiveSummary | None = None
    data: DataSheet | None = None
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def charts(self) -> list[Chart]:
        return [chart for section in self.sections for chart in section.charts]

    def to_dict(self) -> dict[str, Any]:
        """Everything but the full data, as JSON-safe values (NaN and infinities become null)."""
        return {
            "title": self.title,
            "subtitle": self.subtitle,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "facts": [{"label": k, "value": v} for k, v in self.facts],
            "executive_summary": _summary_dict(self.summary),
            "sections": [_section_dict(s) for s in self.sections],
            "sample": _table_dict(self.sample) if self.sample else None,
            "data": {"columns": self.data.columns, "rows": self.data.row_count}
            if self.data
            else None,
        }


def _summary_dict(summary: ExecutiveSummary | None) -> dict[str, str] | None:
    if summary is None:
        return None
    return {"text": summary.text, "source": summary.source, "model": summary.model}


def _section_dict(section: Section) -> dict[str, Any]:
    return {
        "title": section.title,
        "paragraphs": section.paragraphs,
        "tables": [_table_dict(t) for t in section.tables],
        "charts": [
            {
                "kind": c.kind,
                "title": c.title,
                "x_label": c.x_label,
                "y_label": c.y_label,
                "points": [
                    {"category": k, "value": plain(v)} for k, v in zip(c.categories, c.values)
                ],
            }
            for c in section.charts
        ],
    }


def _table_dict(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "columns": table.columns,
        "rows": [[plain(v) for v in row] for row in table.rows],
        "note": table.note,
    }


def plain(value: Any) -> Any:
    """A JSON-safe Python value for anything pandas or numpy hands over."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):  # pandas Timestamp
        return isoformat()
    if _is_missing(value):
        return None
    return str(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN, NaT and pd.NA are not equal to themselves
    except (TypeError, ValueError):
        return False


def display(value: Any, digits: int = 4) -> str:
    """A value as a person reads it in a table cell: 12,345.68 rather than 12345.678901."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return (
            f"{value:,.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e15 else f"{value:,.2f}"
        )
    return str(value)
