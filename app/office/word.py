"""Word documents (.docx): text, statistics, images, Markdown and properties.

Opened with python-docx, whose XML parser never resolves entities; the parts python-docx
does not model (footnotes, endnotes, comments, app properties) are parsed with defusedxml.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
from defusedxml import ElementTree as SafeET
from docx.document import Document
from docx.table import Table
from docx.text.hyperlink import Hyperlink
from docx.text.paragraph import Paragraph

from app.errors import PermanentError
from app.office import media
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of, text_summary

OPERATIONS: dict[str, str] = {
    "extract_text": "Extract the text",
    "count_stats": "Count words, pages and more",
    "extract_images": "Extract the images",
    "to_markdown": "Convert to Markdown",
    "metadata": "Read the document properties",
    "to_pdf": "Convert to PDF (LibreOffice)",  # run by runner.process_file
}
DEFAULT_OPERATIONS = ("extract_text", "count_stats", "metadata")

WORDS_PER_PAGE = 500
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
VML_IMAGE = "{urn:schemas-microsoft-com:vml}imagedata"
EXTENDED_PROPS = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
_NOTE_PARTS = {"footnotes": "/word/footnotes.xml", "endnotes": "/word/endnotes.xml"}
_HEADING = re.compile(r"^Heading (\d)$")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]])")


def open_document(path: Path) -> Document:
    """The document, or a PermanentError a user understands."""
    try:
        return docx.Document(str(path))
    except Exception as exc:  # python-docx raises many types for malformed packages
        raise PermanentError(
            "This file is not a valid Word document: it could not be opened "
            f"({type(exc).__name__})."
        ) from None


def process(
    path: Path,
    operations: list[str],
    out: OutputFolder,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run each operation on one document; returns {operation: summary}."""
    document = open_document(path)
    stem = stem_of(path)
    actions = {
        "extract_text": lambda: extract_text(document, out, stem),
        "count_stats": lambda: count_stats(document),
        "extract_images": lambda: extract_images(document, out, stem),
        "to_markdown": lambda: to_markdown(document, out, stem),
        "metadata": lambda: metadata(document),
    }
    results = {}
    for done, operation in enumerate(operations):
        progress(done, len(operations), OPERATIONS[operation])
        results[operation] = actions[operation]()
    return results


# text ------------------------------------------------------------------------------------


def extract_text(document: Document, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Body in reading order (tables as rows), then headers, footers, notes and comments."""
    body = "\n".join(_block_lines(document.iter_inner_content()))
    headers, footers = header_footer_texts(document)
    notes = {kind: note_texts(document, partname) for kind, partname in _NOTE_PARTS.items()}
    comments = comment_texts(document)
    sections = [body]
    if headers:
        sections.append("=== Headers ===\n" + "\n".join(headers))
    if footers:
        sections.append("=== Footers ===\n" + "\n".join(footers))
    for kind, texts in notes.items():
        if texts:
            numbered = (f"[{i}] {text}" for i, text in enumerate(texts, 1))
            sections.append(f"=== {kind.capitalize()} ===\n" + "\n".join(numbered))
    if comments:
        sections.append("=== Comments ===\n" + "\n".join(comments))
    summary = text_summary(out, f"{stem}.txt", "\n\n".join(sections).strip() + "\n")
    summary.update(
        headers=len(headers),
        footers=len(footers),
        footnotes=len(notes["footnotes"]),
        endnotes=len(notes["endnotes"]),
        comments=len(comments),
    )
    return summary


def _block_lines(blocks: Iterator[Paragraph | Table]) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, Paragraph):
            yield block.text
        else:
            yield from table_rows(block)


def table_rows(table: Table) -> Iterator[str]:
    """One line per row, cells separated by ' | '; merged cells appear once."""
    for row in table.rows:
        yield " | ".join(_flat(cell.text) for cell in unique_cells(row.cells))
        for cell in unique_cells(row.cells):
            for nested in cell.tables:
                yield from table_rows(nested)


def unique_cells(cells: list) -> list:
    """A merged cell is repeated by python-docx for every grid column it spans."""
    seen: set[int] = set()
    unique = []
    for cell in cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            unique.append(cell)
    return unique


def _flat(text: str) -> str:
    return " ".join(text.split())


def header_footer_texts(document: Document) -> tuple[list[str], list[str]]:
    """Distinct header and footer texts over all sections, in order."""
    headers: list[str] = []
    footers: list[str] = []
    for section in document.sections:
        for target, parts in (
            (headers, (section.header, section.first_page_header, section.even_page_header)),
            (footers, (section.footer, section.first_page_footer, section.even_page_footer)),
        ):
            for part in parts:
                if part.is_linked_to_previous:
                    continue
                text = "\n".join(_block_lines(part.iter_inner_content())).strip()
                if text and text not in target:
                    target.append(text)
    return headers, footers


def _xml_part(document: Document, partname: str) -> Any | None:
    for part in document.part.package.iter_parts():
        if part.partname == partname:
            return SafeET.fromstring(part.blob, forbid_dtd=True)
    return None


def _paragraphs_text(element: Any) -> str:
    lines = []
    for paragraph in element.iter(f"{W}p"):
        pieces = []
        for node in paragraph.iter():
            if node.tag == f"{W}t" and node.text:
                pieces.append(node.text)
            elif node.tag == f"{W}tab":
                pieces.append("\t")
            elif node.tag == f"{W}br":
                pieces.append("\n")
        lines.append("".join(pieces))
    return "\n".join(lines).strip()


def note_texts(document: Document, partname: str) -> list[str]:
    """Footnote or endnote texts, skipping Word's separator notes."""
    root = _xml_part(document, partname)
    if root is None:
        return []
    texts = []
    for note in root:
        if note.get(f"{W}type") in ("separator", "continuationSeparator", "continuationNotice"):
            continue
        text = _paragraphs_text(note)
        if text:
            texts.append(text)
    return texts


def comment_texts(document: Document) -> list[str]:
    """'Author: text' for every comment."""
    root = _xml_part(document, "/word/comments.xml")
    if root is None:
        return []
    texts = []
    for comment in root.iter(f"{W}comment"):
        author = comment.get(f"{W}author") or "Unknown"
        texts.append(f"{author}: {_paragraphs_text(comment)}")
    return texts


# statistics ------------------------------------------------------------------------------


def count_stats(document: Document) -> dict[str, Any]:
    """Words, characters, paragraphs, tables, images, sections and an estimate of pages."""
    body = document.element.body
    text = "\n".join(_block_lines(document.iter_inner_content()))
    words = len(text.split())
    paragraphs = sum(1 for p in body.iter(f"{W}p") if _paragraphs_text(p))
    page_breaks = len(body.xpath('.//w:br[@w:type="page"]')) + len(
        body.xpath(".//w:pPr/w:pageBreakBefore")
    )
    rendered_breaks = len(body.xpath(".//w:lastRenderedPageBreak"))
    stats = {
        "words": words,
        "characters": len(text.replace("\n", "")),
        "characters_no_spaces": len("".join(text.split())),
        "paragraphs": paragraphs,
        "tables": len(body.xpath(".//w:tbl")),
        "images": len(body.xpath(".//pic:pic")) + sum(1 for _ in body.iter(VML_IMAGE)),
        "sections": len(document.sections),
        "page_breaks": page_breaks,
        "estimated_pages": max(
            1, math.ceil(words / WORDS_PER_PAGE), page_breaks + 1, rendered_breaks + 1
        ),
    }
    saved_pages = _saved_page_count(document)
    if saved_pages:
        stats["pages_saved_by_word"] = saved_pages
    return stats


def _saved_page_count(document: Document) -> int | None:
    """The page count Word wrote when it last saved the file, if it did."""
    root = _xml_part(document, "/docProps/app.xml")
    node = root.find(f"{EXTENDED_PROPS}Pages") if root is not None else None
    try:
        return int(node.text) if node is not None and node.text else None
    except ValueError:
        return None


# images ----------------------------------------------------------------------------------


def extract_images(document: Document, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Every image in the document body, headers and footers, in its real format."""
    items = [
        (part.blob, part.content_type, f"{stem}-image")
        for part in document.part.package.iter_parts()
        if part.partname.startswith("/word/") and part.content_type.startswith("image/")
    ]
    return media.save_images(items, out)


# markdown --------------------------------------------------------------------------------


def to_markdown(document: Document, out: OutputFolder, stem: str) -> dict[str, Any]:
    """Headings, lists, tables, bold, italic and links as Markdown."""
    blocks = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            line = paragraph_markdown(block)
            if line:
                blocks.append(line)
        else:
            blocks.append(table_markdown(block))
    markdown = _join_blocks(blocks)
    summary = text_summary(out, f"{stem}.md", markdown)
    summary["headings"] = sum(1 for b in blocks if b.startswith("#"))
    return summary


def _join_blocks(blocks: list[str]) -> str:
    """List items stay together; everything else is separated by a blank line."""
    parts: list[str] = []
    for block in blocks:
        if parts and _is_list_item(block) and _is_list_item(parts[-1]):
            parts[-1] += "\n" + block
        else:
            parts.append(block)
    return "\n\n".join(parts) + "\n"


def _is_list_item(block: str) -> bool:
    stripped = block.lstrip()
    return stripped.startswith("- ") or bool(re.match(r"\d+\. ", stripped))


def paragraph_markdown(paragraph: Paragraph) -> str:
    text = _inline_markdown(paragraph).strip()
    if not text:
        return ""
    style = paragraph.style.name if paragraph.style is not None else ""
    if style == "Title":
        return f"# {text}"
    heading = _HEADING.match(style)
    if heading:
        return f"{'#' * min(int(heading.group(1)), 6)} {text}"
    marker, level = _list_marker(paragraph, style)
    if marker:
        return f"{'  ' * level}{marker} {text}"
    return text


def _list_marker(paragraph: Paragraph, style: str) -> tuple[str, int]:
    level_match = re.search(r"(\d)$", style)
    level = int(level_match.group(1)) - 1 if level_match else 0
    if style.startswith("List Number"):
        return "1.", level
    if style.startswith("List Bullet") or style.startswith("List Paragraph"):
        return "-", level
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    if num_pr is not None:
        ilvl = num_pr.ilvl.val if num_pr.ilvl is not None else 0
        return "-", int(ilvl)
    return "", 0


def _inline_markdown(paragraph: Paragraph) -> str:
    """Runs with the same formatting are merged first, so markers never stack up."""
    merged: list[list[Any]] = []
    for item in paragraph.iter_inner_content():
        if isinstance(item, Hyperlink):
            style: tuple = ("link", item.url)
        else:
            style = ("text", bool(item.bold), bool(item.italic))
        if merged and merged[-1][0] == style:
            merged[-1][1] += item.text
        else:
            merged.append([style, item.text])
    return "".join(_format_inline(style, text) for style, text in merged)


def _format_inline(style: tuple, text: str) -> str:
    core = _escape(text.strip())
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    if style[0] == "link":
        core = f"[{core}]({style[1]})" if style[1] else core
    else:
        _, bold, italic = style
        marker = "*" * (2 * bold + italic)
        core = f"{marker}{core}{marker}"
    return f"{lead}{core}{trail}"


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def table_markdown(table: Table) -> str:
    rows = [
        [_escape(_flat(cell.text)).replace("|", "\\|") or " " for cell in unique_cells(row.cells)]
        for row in table.rows
    ]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [" "] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


# properties ------------------------------------------------------------------------------

_CORE_FIELDS = (
    "title",
    "subject",
    "author",
    "keywords",
    "comments",
    "category",
    "last_modified_by",
    "revision",
    "created",
    "modified",
    "last_printed",
    "language",
    "content_status",
    "identifier",
    "version",
)


def metadata(document: Document) -> dict[str, Any]:
    """The core properties (title, author, dates...) that are set."""
    core = document.core_properties
    values = {}
    for name in _CORE_FIELDS:
        value = getattr(core, name, None)
        if value in (None, ""):
            continue
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values
