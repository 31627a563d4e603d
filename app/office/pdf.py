"""PDF documents: text per page, properties, thumbnails, merge, split and rotate.

pypdfium2 (PDFium, the engine in Chrome) reads text and renders pages: it is fast and copes
with broken files. pypdf writes: merging, splitting and rotating keep the original page
objects. Pages without a text layer are reported as probably scanned, never passed off as an
empty success. Parsing runs under the task's time limit.
"""

from __future__ import annotations

import ctypes
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pypdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pypdf.errors import PdfReadError, PyPdfError

from app.errors import PermanentError
from app.office.outputs import (
    PREVIEW_CHARS,
    OutputFolder,
    Progress,
    no_progress,
    stem_of,
    text_summary,
)

OPERATIONS: dict[str, str] = {
    "extract_text": "Extract the text of every page",
    "metadata": "Read the properties and page count",
    "thumbnails": "Render page thumbnails",
    "split": "Split into parts by page ranges",
    "rotate": "Rotate pages",
    "delete_pages": "Delete pages",
    "reorder": "Reorder pages",
    "compress": "Compress (recompress images, drop duplicates)",
    "watermark": "Add a text watermark",
    "protect": "Protect with a password",
    "unlock": "Remove the password (give the current one)",
    "merge": "Merge all PDFs into one, in order",
}
DEFAULT_OPERATIONS = ("extract_text", "metadata")
MULTI_FILE_OPERATIONS = ("merge",)

DEFAULT_THUMBNAIL_PAGES = 10
DEFAULT_THUMBNAIL_SIZE = 300
MAX_THUMBNAIL_SIZE = 2000
MAX_LISTED_PAGES = 300
POINTS_PER_MM = 72 / 25.4
_PROPERTY_NAMES = {"CreationDate": "created", "ModDate": "modified"}
PROTECTED = "This PDF is password-protected. Enter its password and try again."
WRONG_PASSWORD = "The password for this PDF is not correct."
PROTECTED_FOR_OCR = (
    "This PDF is password-protected. Remove its password first (PDF tool: remove password), "
    "then run OCR on the unprotected copy."
)
_RANGE = re.compile(r"^\s*(\d*)\s*(?:(-)\s*(\d*))?\s*$")
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?")


# opening --------------------------------------------------------------------------------------


@contextmanager
def open_document(path: Path, password: str | None = None) -> Iterator[pdfium.PdfDocument]:
    """The document opened by PDFium; a password error becomes a sentence."""
    try:
        document = pdfium.PdfDocument(str(path), password=password or None)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise PermanentError(WRONG_PASSWORD if password else PROTECTED) from None
        raise PermanentError(f"This file is not a valid PDF document ({exc}).") from None
    try:
        yield document
    finally:
        document.close()


@contextmanager
def open_page(document: pdfium.PdfDocument, index: int) -> Iterator[pdfium.PdfPage]:
    """One page; a page PDFium cannot load (a broken or cyclic page tree) becomes a sentence."""
    try:
        page = document[index]
    except pdfium.PdfiumError:
        raise PermanentError(
            f"This PDF is damaged: page {index + 1} cannot be read (its page tree is broken)."
        ) from None
    try:
        yield page
    finally:
        page.close()


def open_reader(path: Path, password: str | None = None) -> pypdf.PdfReader:
    """The document opened by pypdf for rewriting, decrypted when it needs a password."""
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(password or ""):
            raise PermanentError(WRONG_PASSWORD if password else PROTECTED)
        len(reader.pages)  # walks the page tree: a broken or cyclic tree fails here
    except PermanentError:
        raise
    except (PdfReadError, PyPdfError, RecursionError, ValueError, KeyError, TypeError) as exc:
        raise PermanentError(
            f"This PDF is damaged and cannot be rewritten ({_short(exc)})."
        ) from None
    return reader


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "…"


def parse_pages(spec: str | None, page_count: int) -> list[list[int]]:
    """'1-3, 5, 8-' as groups of 0-based page indexes; refuses pages that do not exist."""
    if spec is None or not str(spec).strip():
        return [[index] for index in range(page_count)]
    groups = []
    for part in str(spec).split(","):
        if not part.strip():
            continue
        match = _RANGE.match(part)
        if not match or not (match.group(1) or match.group(3)):
            raise PermanentError(
                f"'{part.strip()}' is not a page range; write ranges like 1-3, 5, 8-."
            )
        first = int(match.group(1) or 1)
        last = int(match.group(3) or page_count) if match.group(2) else first
        if first < 1 or last > page_count or first > last:
            raise PermanentError(
                f"The range '{part.strip()}' does not fit: this PDF has {page_count} page(s)."
            )
        groups.append(list(range(first - 1, last)))
    if not groups:
        raise PermanentError("No pages were given.")
    return groups


def _flat(groups: list[list[int]]) -> list[int]:
    return sorted({index for group in groups for index in group})


# the per-file operations -------------------------------------------------------------------


def process(
    path: Path,
    operations: list[str],
    out: OutputFolder,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run the single-file operations on one PDF; returns {operation: summary}."""
    options = options or {}
    password = options.get("password")
    stem = stem_of(path)
    results: dict[str, Any] = {}
    with open_document(path, password) as document:
        readers = {
            "extract_text": lambda: extract_text(document, out, stem, progress),
            "metadata": lambda: metadata(document, password),
            "thumbnails": lambda: thumbnails(
                document,
                out,
                stem,
                options.get("thumbnail_pages"),
                int(options.get("thumbnail_size") or DEFAULT_THUMBNAIL_SIZE),
                progress,
            ),
        }
        for operation in operations:
            if operation in readers:
                results[operation] = readers[operation]()
    writers = {
        "split": lambda: split(path, out, options.get("ranges"), password),
        "rotate": lambda: rotate(
            path, out, int(options.get("angle") or 90), options.get("pages"), password
        ),
        **_tools(path, out, options, password),
    }
    for operation in operations:
        if operation in writers:
            progress(0, 1, OPERATIONS[operation])
            results[operation] = writers[operation]()
    return results


def _tools(
    path: Path, out: OutputFolder, options: dict[str, Any], password: str | None
) -> dict[str, Any]:
    """The page and file tools of pdf_tools, as writers of `process`."""
    from app.office import pdf_tools

    return {
        "delete_pages": lambda: pdf_tools.delete_pages(
            path, out, options.get("delete_pages"), password
        ),
        "reorder": lambda: pdf_tools.reorder(path, out, options.get("order"), password),
        "compress": lambda: pdf_tools.compress(
            path, out, password, int(options.get("quality") or pdf_tools.COMPRESS_QUALITY)
        ),
        "watermark": lambda: pdf_tools.watermark(
            path, out, options.get("watermark_text") or "", password
        ),
        "protect": lambda: pdf_tools.protect(path, out, options.get("new_password"), password),
        "unlock": lambda: pdf_tools.unlock(path, out, password),
    }


def extract_text(
    document: pdfium.PdfDocument, out: OutputFolder, stem: str, progress: Progress = no_progress
) -> dict[str, Any]:
    """The text of every page; pages without a text layer are named, scanned or blank."""
    count = len(document)
    pages, characters, scanned, blank = [], [], [], []
    for index in range(count):
        text = page_text(document, index)
        if not text.strip():
            with open_page(document, index) as page:
                (scanned if _has_images(page) else blank).append(index + 1)
        pages.append(text)
        characters.append(len(text))
        if index % 10 == 0:
            progress(index, count, f"Reading page {index + 1} of {count}")
    # A form feed between pages, as pdftotext writes; the preview shows a blank line instead.
    summary = text_summary(out, f"{stem}.txt", "\f".join(pages), shown=_opening(pages))
    summary.update(
        pages=count,
        pages_with_text=count - len(scanned) - len(blank),
        scanned_pages=scanned[:MAX_LISTED_PAGES],
        blank_pages=blank[:MAX_LISTED_PAGES],
        text_layer=_text_layer(count, scanned, blank),
    )
    if count <= MAX_LISTED_PAGES:
        summary["page_characters"] = characters
    warnings = _text_warnings(count, scanned)
    if warnings:
        summary["warnings"] = warnings
    return summary


def _opening(pages: list[str]) -> str:
    """The first pages joined by blank lines, just long enough for a preview."""
    shown: list[str] = []
    length = 0
    for text in pages:
        shown.append(text)
        length += len(text) + 2
        if length > PREVIEW_CHARS:
            break
    return "\n\n".join(shown)


def page_text(document: pdfium.PdfDocument, index: int) -> str:
    """One page's text through PDFium's C API directly.

    Text extraction is the hot loop: the raw calls skip the helper objects' bookkeeping, about
    a tenth of the time; PDFium's own text analysis is the rest.
    """
    page = pdfium_c.FPDF_LoadPage(document, index)
    if not page:
        raise PermanentError(
            f"This PDF is damaged: page {index + 1} cannot be read (its page tree is broken)."
        )
    try:
        textpage = pdfium_c.FPDFText_LoadPage(page)
        if not textpage:
            raise PermanentError(
                f"This PDF is damaged: the text of page {index + 1} cannot be read."
            )
        try:
            count = pdfium_c.FPDFText_CountChars(textpage)
            if count <= 0:
                return ""
            buffer = ctypes.create_string_buffer((count + 1) * 2)
            pdfium_c.FPDFText_GetText(
                textpage, 0, count, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort))
            )
            return buffer.raw[: count * 2].decode("utf-16-le", errors="replace")
        finally:
            pdfium_c.FPDFText_ClosePage(textpage)
    finally:
        pdfium_c.FPDF_ClosePage(page)


def page_texts(path: Path, password: str | None = None) -> list[str]:
    """The text of every page of the PDF at `path`."""
    with open_document(path, password) as document:
        return [page_text(document, index) for index in range(len(document))]


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))


def _text_layer(count: int, scanned: list[int], blank: list[int]) -> str:
    without = len(scanned) + len(blank)
    if count and without == count:
        return "none"
    return "partial" if without else "full"


def _text_warnings(count: int, scanned: list[int]) -> list[str]:
    if not scanned:
        return []
    if len(scanned) == count:
        return [
            "This PDF has no text layer: every page is an image, as in a scan. "
            "No text could be extracted; run OCR on it first."
        ]
    listed = ", ".join(map(str, scanned[:20])) + ("…" if len(scanned) > 20 else "")
    return [
        f"{len(scanned)} page(s) have no text layer and look scanned (page {listed}); "
        "their text could not be extracted."
    ]


def metadata(document: pdfium.PdfDocument, password: str | None = None) -> dict[str, Any]:
    """Title, author and the other properties, PDF version, page count and page sizes."""
    info = {
        _PROPERTY_NAMES.get(key, key.lower()): _pdf_date(value) if key.endswith("Date") else value
        for key, value in document.get_metadata_dict(skip_empty=True).items()
    }
    sizes: Counter[str] = Counter()
    for index in range(min(len(document), 1000)):
        try:
            width, height = document.get_page_size(index)
        except pdfium.PdfiumError:
            continue
        sizes[f"{width / POINTS_PER_MM:.0f} × {height / POINTS_PER_MM:.0f} mm"] += 1
    version = document.get_version()
    return {
        "pages": len(document),
        "version": f"{version // 10}.{version % 10}" if version else None,
        "encrypted": bool(password),
        "tagged": document.is_tagged(),
        "page_sizes": dict(sizes.most_common(10)),
        "properties": info,
    }


def _pdf_date(value: str) -> str:
    """A PDF date (D:20240131120000+01'00') as ISO 8601; unreadable dates pass through."""
    match = _PDF_DATE.match(value.strip())
    if not match:
        return value
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=_zone(zone),
        )
    except ValueError:
        return value
    return moment.isoformat()


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    digits = text[1:].replace("'", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return timezone(offset if text[0] == "+" else -offset)


def thumbnails(
    document: pdfium.PdfDocument,
    out: OutputFolder,
    stem: str,
    pages: str | None = None,
    size: int = DEFAULT_THUMBNAIL_SIZE,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """PNG renders of the chosen pages (the first ten by default), `size` px on the long side."""
    size = max(16, min(int(size), MAX_THUMBNAIL_SIZE))
    count = len(document)
    indexes = (
        _flat(parse_pages(pages, count))
        if pages
        else list(range(min(count, DEFAULT_THUMBNAIL_PAGES)))
    )
    images = []
    for done, index in enumerate(indexes):
        progress(done, len(indexes), f"Rendering page {index + 1}")
        with open_page(document, index) as page:
            width, height = page.get_size()
            image = page.render(scale=size / max(width, height, 1)).to_pil()
        target = out.path(f"{stem}-page-{index + 1:03d}.png")
        image.save(target, "PNG")
        images.append({"page": index + 1, "name": target.name, "size": list(image.size)})
    notes = []
    if not pages and count > len(indexes):
        notes.append(
            f"Thumbnails of the first {len(indexes)} of {count} pages; choose pages for others."
        )
    return {"count": len(images), "images": images, "notes": notes}


def split(
    path: Path, out: OutputFolder, ranges: str | None, password: str | None = None
) -> dict[str, Any]:
    """One PDF per range ('1-3, 4-6'); every page on its own when no ranges are given."""
    reader = open_reader(path, password)
    groups = parse_pages(ranges, len(reader.pages))
    stem = stem_of(path)
    parts = []
    for group in groups:
        writer = pypdf.PdfWriter()
        for index in group:
            writer.add_page(reader.pages[index])
        label = f"{group[0] + 1}" if len(group) == 1 else f"{group[0] + 1}-{group[-1] + 1}"
        target = out.path(f"{stem}-pages-{label}.pdf")
        with open(target, "wb") as handle:
            writer.write(handle)
        parts.append({"name": target.name, "pages": label})
    return {"count": len(parts), "parts": parts[:MAX_LISTED_PAGES]}


def rotate(
    path: Path,
    out: OutputFolder,
    angle: int = 90,
    pages: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The document with the chosen pages (all by default) turned clockwise by `angle`."""
    if angle % 90 or angle % 360 == 0:
        raise PermanentError("Pages can be rotated by 90, 180 or 270 degrees.")
    reader = open_reader(path, password)
    chosen = _flat(parse_pages(pages, len(reader.pages)))
    writer = pypdf.PdfWriter(clone_from=reader)
    for index in chosen:
        writer.pages[index].rotate(angle)
    target = out.path(f"{stem_of(path)}-rotated.pdf")
    with open(target, "wb") as handle:
        writer.write(handle)
    return {"name": target.name, "angle": angle % 360, "pages_rotated": len(chosen)}


def merge(
    paths: list[Path],
    out: OutputFolder,
    password: str | None = None,
    progress: Progress = no_progress,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """All the PDFs, in the order given, as one document."""
    if len(paths) < 2:
        raise PermanentError("Choose at least two PDFs to merge.")
    writer = pypdf.PdfWriter()
    labels = names or [p.name for p in paths]
    for done, path in enumerate(paths):
        progress(done, len(paths), f"Adding {labels[done]}")
        try:
            writer.append(open_reader(path, password))
        except PermanentError as exc:
            raise PermanentError(f"{labels[done]}: {exc}") from None
    target = out.path("merged.pdf")
    with open(target, "wb") as handle:
        writer.write(handle)
    return {"name": target.name, "files": labels, "pages": len(writer.pages)}
