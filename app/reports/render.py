"""Writes one Report in each requested format; the file names are chosen here, never by users."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from app.errors import PermanentError
from app.reports.html import chart_images as svg_images
from app.reports.html import render_html
from app.reports.model import Progress, Report
from app.reports.pdf import chart_images as png_images
from app.reports.pdf import write_pdf
from app.reports.xlsx import write_xlsx

REPORT_FORMATS = ("html", "xlsx", "pdf", "json")
PathFor = Callable[[str], Path]


def check_formats(formats: Iterable[str], allowed: tuple[str, ...] = REPORT_FORMATS) -> list[str]:
    """The requested formats in a fixed order, refusing any this report cannot produce."""
    wanted = [f.lower().strip(".") for f in formats]
    unknown = sorted(set(wanted) - set(allowed))
    if unknown:
        raise PermanentError(
            f"Unknown format {', '.join(unknown)}; choose from {', '.join(allowed)}."
        )
    if not wanted:
        raise PermanentError("Choose at least one output format.")
    return [f for f in allowed if f in wanted]


def write_report(
    report: Report,
    formats: Iterable[str],
    path_for: PathFor,
    *,
    stem: str = "report",
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write `report` as `<stem>.<format>` for each format; returns format -> path."""
    chosen = check_formats(formats)
    writers = {"html": _html, "xlsx": _xlsx, "pdf": _pdf, "json": _json}
    written: dict[str, Path] = {}
    for step, fmt in enumerate(chosen):
        if progress:
            progress(step, len(chosen), f"Writing the {fmt.upper()} report")
        written[fmt] = writers[fmt](report, path_for(f"{stem}.{fmt}"))
    if progress:
        progress(len(chosen), len(chosen), "Reports written")
    return written


def _html(report: Report, path: Path) -> Path:
    path.write_text(render_html(report, svg_images(report)), encoding="utf-8")
    return path


def _xlsx(report: Report, path: Path) -> Path:
    return write_xlsx(report, path)


def _pdf(report: Report, path: Path) -> Path:
    return write_pdf(report, path, png_images(report))


def _json(report: Report, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report.to_dict(), handle, ensure_ascii=False, indent=2, allow_nan=False)
    return path
