"""Charts as PNG (for PDF) and SVG (inline in HTML), drawn without any global pyplot state."""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from app.reports.model import Chart

_COLOR = "#2f6db5"
_MAX_LABEL = 18

_MISSING_GLYPH = r"Glyph \d+ .* missing from font"


def figure(chart: Chart, width: float = 8.0, height: float = 3.6) -> Figure:
    """A matplotlib figure of `chart`; bars for bar and histogram, a line for line."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [_label(c) for c in chart.categories]
    positions = range(len(labels))
    if chart.kind == "line":
        ax.plot(positions, chart.values, color=_COLOR, marker="o" if len(labels) < 40 else None)
        ax.fill_between(positions, chart.values, alpha=0.08, color=_COLOR)
    else:
        gap = 0.0 if chart.kind == "histogram" else 0.2
        ax.bar(positions, chart.values, width=1 - gap, color=_COLOR, edgecolor="white")
    _axes_labels(ax, chart, labels)
    return fig


def _axes_labels(ax, chart: Chart, labels: list[str]) -> None:
    ax.set_title(chart.title, fontsize=11, loc="left")
    ax.set_xlabel(chart.x_label, fontsize=9)
    ax.set_ylabel(chart.y_label, fontsize=9)
    step = max(1, len(labels) // 20)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=35, ha="right", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(compact))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)


def _label(text: str) -> str:
    # Mathtext would treat "$" as markup; data labels must print as typed.
    text = str(text).replace("$", r"\$")
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def compact(value: float, _position: object = None) -> str:
    """An axis number a person reads at a glance: 1.5k, 2M, 0.25."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


@contextmanager
def _quiet() -> Iterator[None]:
    """Labels in scripts DejaVu Sans lacks (CJK, emoji) draw as boxes; one warning per glyph
    per chart would only flood the worker log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MISSING_GLYPH, category=UserWarning)
        yield


def png(chart: Chart, dpi: int = 110) -> bytes:
    """The chart as PNG bytes."""
    buffer = io.BytesIO()
    with _quiet():
        figure(chart).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def svg(chart: Chart) -> str:
    """The chart as an SVG document; text stays text so the page is searchable and small."""
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "nexus"}), _quiet():
        figure(chart).savefig(buffer, format="svg")
    return buffer.getvalue()


def svg_data_uri(chart: Chart) -> str:
    """The SVG as a data: URI for an <img>; an image context never runs script in the SVG."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg(chart).encode()).decode()
