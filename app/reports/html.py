"""HTML reports from the Jinja2 templates in templates/, with autoescape always on."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.reports import charts
from app.reports.model import Chart, Report, display

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> Environment:
    """The template environment: autoescape on for every template, so data is never markup."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = display
    return env


_ENV = environment()


def render_html(report: Report, chart_uris: dict[int, str] | None = None) -> str:
    """The report as one self-contained HTML page: inline CSS, charts as data: URIs."""
    uris = chart_uris if chart_uris is not None else chart_images(report)

    def chart_uri(chart: Chart) -> str:
        return uris[id(chart)]

    return _ENV.get_template("report.html.j2").render(report=report, chart_uri=chart_uri)


def chart_images(report: Report) -> dict[int, str]:
    """Every chart of the report as an SVG data URI, keyed by the chart object's id."""
    return {id(chart): charts.svg_data_uri(chart) for chart in report.charts()}
