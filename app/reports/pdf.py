"""PDF reports with reportlab: paginated tables and charts, page numbers, Unicode text.

The PDF carries summaries and a bounded sample of rows (it says so on the page); the full
data lives in the XLSX and the exports.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from app.reports import charts
from app.reports.model import Chart, Report, Table, display

PAGE = landscape(A4)
MARGIN = 1.4 * cm
MAX_PDF_ROWS = 100  # rows of any one table; the rest is in the XLSX
_FONT, _BOLD = "NexusSans", "NexusSans-Bold"
_MAX_WEIGHT = 40  # characters; a longer column wraps instead of squeezing the rest
_MAX_WORD_POINTS = 110.0
_CELL_PADDING = 13.0  # reportlab pads 6 points on each side of a cell


def _register_fonts() -> None:
    """DejaVu Sans ships inside matplotlib and covers far more scripts than Helvetica."""
    if _FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(_FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(_FONT, normal=_FONT, bold=_BOLD, italic=_FONT, boldItalic=_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()

    def style(name: str, parent: str, **kw) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base[parent], fontName=kw.pop("font", _FONT), **kw)

    return {
        "title": style("t", "Title", font=_BOLD, fontSize=20, alignment=0, spaceAfter=4),
        "h2": style(
            "h2", "Heading2", font=_BOLD, fontSize=13, spaceBefore=12, spaceAfter=6, keepWithNext=1
        ),
        "h3": style(
            "h3", "Heading3", font=_BOLD, fontSize=10, spaceBefore=6, spaceAfter=4, keepWithNext=1
        ),
        "body": style("b", "BodyText", fontSize=9, leading=12),
        "meta": style("m", "BodyText", fontSize=8, textColor=colors.HexColor("#5b6b7c")),
        "cell": style("c", "BodyText", fontSize=7, leading=8.5),
        "head": style("h", "BodyText", font=_BOLD, fontSize=7, leading=8.5),
        "label": style(
            "l", "BodyText", font=_BOLD, fontSize=8, textColor=colors.HexColor("#2f6db5")
        ),
    }


def write_pdf(report: Report, path: Path, chart_pngs: dict[int, bytes] | None = None) -> Path:
    """Write `report` as a paginated PDF to `path` and return the path."""
    _register_fonts()
    styles = _styles()
    pngs = chart_pngs if chart_pngs is not None else chart_images(report)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=report.title,
        author="Nexus",
        subject=report.subtitle,
    )
    doc.build(_story(report, styles, pngs), canvasmaker=NumberedCanvas)
    return path


def chart_images(report: Report) -> dict[int, bytes]:
    """Every chart as PNG bytes, keyed by the chart object's id."""
    return {id(chart): charts.png(chart) for chart in report.charts()}


def _story(
    report: Report, styles: dict[str, ParagraphStyle], pngs: dict[int, bytes]
) -> list[Flowable]:
    story: list[Flowable] = [_p(report.title, styles["title"])]
    if report.subtitle:
        story.append(_p(report.subtitle, styles["meta"]))
    story.append(_p(f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC", styles["meta"]))
    story.append(Spacer(1, 8))
    if report.facts:
        story.append(_facts_table(report.facts, styles))
    if report.summary:
        story += _summary(report, styles)
    for section in report.sections:
        story.append(_p(section.title, styles["h2"]))
        story += [_p(text, styles["body"]) for text in section.paragraphs]
        story += [_chart(chart, pngs) for chart in section.charts]
        for table in section.tables:
            story += _table(table, styles)
    if report.sample:
        story.append(_p("Data", styles["h2"]))
        story += _table(report.sample, styles)
    return story


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    # Paragraph parses a small XML markup language: data must be escaped, never interpreted.
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _facts_table(facts: list[tuple[str, str]], styles) -> LongTable:
    per_row = 4
    cells = [[_p(label, styles["meta"]), _p(value, styles["h3"])] for label, value in facts]
    rows = []
    for start in range(0, len(cells), per_row):
        chunk = cells[start : start + per_row]
        chunk += [["", ""]] * (per_row - len(chunk))
        rows.append([c[0] for c in chunk])
        rows.append([c[1] for c in chunk])
    width = (PAGE[0] - 2 * MARGIN) / per_row
    table = LongTable(rows, colWidths=[width] * per_row)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f4f7fb")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _summary(report: Report, styles) -> list[Flowable]:
    summary = report.summary
    label = f"Executive summary · written by {summary.source}"
    if summary.model:
        label += f" ({summary.model})"
    return [Spacer(1, 8), _p(label.upper(), styles["label"]), _p(summary.text, styles["body"])]


def _chart(chart: Chart, pngs: dict[int, bytes]) -> Flowable:
    width = min(PAGE[0] - 2 * MARGIN, 18 * cm)
    return Image(io.BytesIO(pngs[id(chart)]), width=width, height=width * 3.6 / 8.0)


def _table(table: Table, styles) -> list[Flowable]:
    rows = table.rows[:MAX_PDF_ROWS]
    note = table.note
    if len(table.rows) > len(rows):
        note = f"The PDF shows the first {len(rows):,} of {len(table.rows):,} rows. " + note
    header = [_p(c, styles["head"]) for c in table.columns]
    texts = [[display(v) for v in row] for row in rows]
    body = [[_p(text, styles["cell"]) for text in row] for row in texts]
    widths = column_widths(table.columns, texts, PAGE[0] - 2 * MARGIN)
    grid = LongTable([header, *body], colWidths=widths, repeatRows=1)
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dce6f2")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#c8d1dc")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f8fafc")]),
            ]
        )
    )
    title = KeepTogether([_p(table.title, styles["h3"])])
    flow: list[Flowable] = [title, grid]
    if note:
        flow.append(_p(note, styles["meta"]))
    return flow


def column_widths(columns: list[str], rows: list[list[str]], total: float) -> list[float]:
    """Widths that keep each column's longest word whole and share the rest by text length."""
    minimum = [
        _longest_word(column, [row[i] for row in rows if i < len(row)])
        for i, column in enumerate(columns)
    ]
    weights = [
        min(max([len(str(c)), *(len(row[i]) for row in rows if i < len(row))]), _MAX_WEIGHT) or 1
        for i, c in enumerate(columns)
    ]
    widths = [max(low, total * w / sum(weights)) for low, w in zip(minimum, weights)]
    excess = sum(widths) - total
    slack = [w - low for w, low in zip(widths, minimum)]
    if excess > 0 and sum(slack) > 0:
        share = min(1.0, excess / sum(slack))
        widths = [w - s * share for w, s in zip(widths, slack)]
    if sum(widths) > total:  # even the words do not fit: scale everything down
        widths = [w * total / sum(widths) for w in widths]
    return widths


def _longest_word(header: str, cells: list[str]) -> float:
    words = [*str(header).split(), *(w for cell in cells for w in cell.split())]
    widest = max((pdfmetrics.stringWidth(w, _BOLD, 7) for w in words), default=0.0)
    return min(widest, _MAX_WORD_POINTS) + _CELL_PADDING


class NumberedCanvas(canvas.Canvas):
    """A canvas that writes "Page n of m" on every page, once the page count is known."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(_FONT, 7)
            self.setFillColor(colors.HexColor("#5b6b7c"))
            self.drawRightString(
                PAGE[0] - MARGIN, MARGIN / 2, f"Page {self._pageNumber} of {total}"
            )
            super().showPage()
        super().save()
