"""PowerPoint presentations (.pptx): text per slide, structure, images and an outline.

Opened with python-pptx, whose XML parser never resolves entities. Grouped shapes are walked
recursively, so text and pictures inside groups are never missed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pptx
from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER
from pptx.presentation import Presentation
from pptx.slide import Slide

from app.errors import PermanentError
from app.office import media
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of, text_summary

OPERATIONS: dict[str, str] = {
    "extract_text": "Extract the text of every slide",
    "structure": "Describe the slides and shapes",
    "extract_images": "Extract the images",
    "outline": "Build a Markdown outline",
    "to_pdf": "Convert to PDF (LibreOffice)",  # run by runner.process_file
}
DEFAULT_OPERATIONS = ("extract_text", "structure")

EMU_PER_CM = 360_000
MAX_LISTED_SLIDES = 100
_TITLE_TYPES = {PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE}


def open_presentation(path: Path) -> Presentation:
    try:
        return pptx.Presentation(str(path))
    except Exception as exc:  # python-pptx raises many types for malformed packages
        raise PermanentError(
            "This file is not a valid PowerPoint presentation: it could not be opened "
            f"({type(exc).__name__})."
        ) from None


def process(
    path: Path,
    operations: list[str],
    out: OutputFolder,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run each operation on one presentation; returns {operation: summary}."""
    presentation = open_presentation(path)
    stem = stem_of(path)
    actions = {
        "extract_text": lambda: extract_text(presentation, out, stem),
        "structure": lambda: structure(presentation),
        "extract_images": lambda: extract_images(presentation, out, stem),
        "outline": lambda: outline(presentation, out, stem),
    }
    results = {}
    for done, operation in enumerate(operations):
        progress(done, len(operations), OPERATIONS[operation])
        results[operation] = actions[operation]()
    return results


# walking shapes ---------------------------------------------------------------------------


def iter_shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, depth first; a group is yielded before its members."""
    for shape in shapes:
        yield shape
        if _shape_type(shape) == MSO_SHAPE_TYPE.GROUP:
            yield from iter_shapes(shape.shapes)


def _shape_type(shape: Any) -> MSO_SHAPE_TYPE | None:
    try:
        return shape.shape_type
    except (NotImplementedError, KeyError, ValueError):
        return None


def _is_title(shape: Any) -> bool:
    if not shape.is_placeholder:
        return False
    try:
        return shape.placeholder_format.type in _TITLE_TYPES
    except ValueError:
        return False


def slide_title(slide: Slide) -> str:
    for shape in slide.shapes:
        if _is_title(shape) and shape.has_text_frame:
            return " ".join(shape.text_frame.text.split())
    return ""


def slide_notes(slide: Slide) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return frame.text.strip() if frame is not None else ""


def body_lines(slide: Slide, table_rows: bool = True) -> Iterator[tuple[int, str]]:
    """(indent level, text) for every non-title paragraph and table row, groups included.

    With `table_rows` False a table is one line giving its size, as an outline wants.
    """
    for shape in iter_shapes(slide.shapes):
        if _is_title(shape):
            continue
        if shape.has_text_frame:
            for paragraph in shape.text_frame.paragraphs:
                text = "".join(run.text for run in paragraph.runs).strip() or paragraph.text.strip()
                if text:
                    yield paragraph.level, text
        elif getattr(shape, "has_table", False) and shape.has_table and not table_rows:
            table = shape.table
            yield 0, f"Table: {len(table.rows)} rows × {len(table.columns)} columns"
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                yield 0, " | ".join(" ".join(cell.text.split()) for cell in row.cells)
        elif getattr(shape, "has_chart", False) and shape.has_chart:
            chart = shape.chart
            if chart.has_title and chart.chart_title.has_text_frame:
                yield 0, f"Chart: {chart.chart_title.text_frame.text.strip()}"


# operations -------------------------------------------------------------------------------


def extract_text(presentation: Presentation, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Per slide: title, body text, tables, grouped shapes and speaker notes."""
    slides = []
    blocks = []
    for number, slide in enumerate(presentation.slides, 1):
        title = slide_title(slide)
        body = [text for _, text in body_lines(slide)]
        notes = slide_notes(slide)
        slides.append({"slide": number, "title": title, "text": body, "notes": notes})
        block = [f"=== Slide {number}" + (f": {title} ===" if title else " ==="), *body]
        if notes:
            block.append(f"Notes: {notes}")
        blocks.append("\n".join(block))
    summary = text_summary(out, f"{stem}.txt", "\n\n".join(blocks) + "\n")
    summary.update(
        slides=len(slides),
        slides_with_notes=sum(1 for s in slides if s["notes"]),
        titles=[s["title"] for s in slides[:MAX_LISTED_SLIDES]],
        slides_file=out.write_json(f"{stem}-slides.json", slides),
    )
    return summary


def structure(presentation: Presentation) -> dict[str, Any]:
    """Slide count and size, layouts, shapes by type, images, charts, tables and notes."""
    shape_types: Counter[str] = Counter()
    layouts: Counter[str] = Counter()
    slides = []
    for number, slide in enumerate(presentation.slides, 1):
        counts = _slide_counts(slide, shape_types)
        layouts[slide.slide_layout.name] += 1
        slides.append(
            {
                "slide": number,
                "title": slide_title(slide),
                "layout": slide.slide_layout.name,
                "hidden": slide._element.get("show") == "0",
                "has_notes": bool(slide_notes(slide)),
                **counts,
            }
        )
    width, height = presentation.slide_width or 0, presentation.slide_height or 0
    return {
        "slides": len(slides),
        "slide_size_cm": [round(width / EMU_PER_CM, 2), round(height / EMU_PER_CM, 2)],
        "layouts": dict(layouts.most_common()),
        "shapes_by_type": dict(shape_types.most_common()),
        "shapes": sum(s["shapes"] for s in slides),
        "images": sum(s["images"] for s in slides),
        "charts": sum(s["charts"] for s in slides),
        "tables": sum(s["tables"] for s in slides),
        "slides_with_notes": sum(1 for s in slides if s["has_notes"]),
        "hidden_slides": sum(1 for s in slides if s["hidden"]),
        "per_slide": slides[:MAX_LISTED_SLIDES],
    }


def _slide_counts(slide: Slide, shape_types: Counter[str]) -> dict[str, int]:
    counts = {"shapes": 0, "images": 0, "charts": 0, "tables": 0}
    for shape in iter_shapes(slide.shapes):
        counts["shapes"] += 1
        kind = _shape_type(shape)
        shape_types[kind.name.lower() if kind is not None else "other"] += 1
        if _image_of(shape) is not None:
            counts["images"] += 1
        if getattr(shape, "has_chart", False) and shape.has_chart:
            counts["charts"] += 1
        if getattr(shape, "has_table", False) and shape.has_table:
            counts["tables"] += 1
    return counts


def _image_of(shape: Any) -> Any | None:
    """The embedded image of a picture or picture placeholder; None for anything else."""
    if _shape_type(shape) not in (MSO_SHAPE_TYPE.PICTURE, MSO_SHAPE_TYPE.PLACEHOLDER):
        return None
    try:
        return shape.image
    except (AttributeError, KeyError, ValueError):
        return None  # a linked picture, or a placeholder without one


def extract_images(presentation: Presentation, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Every picture on the slides, groups included, in its real format, each once."""
    items = []
    for number, slide in enumerate(presentation.slides, 1):
        for shape in iter_shapes(slide.shapes):
            image = _image_of(shape)
            if image is not None:
                items.append((image.blob, image.content_type, f"{stem}-slide{number:03d}"))
    return media.save_images(items, out)


def outline(presentation: Presentation, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Slide titles as headings and their body text as nested bullets."""
    slides = list(presentation.slides)
    heading = slide_title(slides[0]) if slides else ""
    lines = [f"# {heading or stem}", ""]
    for number, slide in enumerate(slides, 1):
        lines.append(f"## {number}. {slide_title(slide) or f'Slide {number}'}")
        bullets = [f"{'  ' * level}- {text}" for level, text in body_lines(slide, False)]
        lines.extend(bullets)
        lines.append("")
    summary = text_summary(out, f"{stem}-outline.md", "\n".join(lines))
    summary["slides"] = len(slides)
    return summary
