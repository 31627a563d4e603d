"""The PDF tools office users ask for: compress, watermark, delete and reorder pages, protect
and unlock with a password, and many images into one PDF.

Each writes a new file next to the others and says what changed; the input is never modified.
pypdf rewrites the documents (keeping the original page objects), reportlab draws watermarks.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf
from PIL import Image, ImageOps
from pypdf.errors import PyPdfError

from app.errors import PermanentError
from app.office import heif
from app.office.guard import pillow_limits
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of
from app.office.pdf import open_reader, parse_pages

COMPRESS_QUALITY = 70
MIN_PASSWORD = 4
MAX_WATERMARK = 80
IMAGE_DPI = 150


def _write(writer: pypdf.PdfWriter, target: Path) -> None:
    with open(target, "wb") as handle:
        writer.write(handle)


def compress(path: Path, out: OutputFolder, password: str | None = None,
             quality: int = COMPRESS_QUALITY) -> dict[str, Any]:
    """Recompress photos as JPEG at `quality`, compress page streams, drop duplicate objects."""
    writer = pypdf.PdfWriter(clone_from=open_reader(path, password))
    recompressed = 0
    for page in writer.pages:
        page.compress_content_streams()
        for picture in page.images:
            try:
                if picture.image is None or picture.image.mode not in ("RGB", "L"):
                    continue  # masks and transparency keep their lossless form
                picture.replace(picture.image, quality=max(10, min(int(quality), 95)))
                recompressed += 1
            except (PyPdfError, OSError, ValueError, NotImplementedError):
                continue  # an image pypdf cannot decode stays as it was
    writer.compress_identical_objects()  # duplicates and orphans both go by default
    target = out.path(f"{stem_of(path)}-compressed.pdf")
    _write(writer, target)
    before, after = path.stat().st_size, target.stat().st_size
    notes = [] if after < before else ["This PDF was already compact: the copy is no smaller."]
    return {"name": target.name, "bytes_before": before, "bytes_after": after,
            "images_recompressed": recompressed, "notes": notes}


def watermark(path: Path, out: OutputFolder, text: str, password: str | None = None,
              opacity: float = 0.2) -> dict[str, Any]:
    """`text` written large and faint across every page, under the page's own content's ink."""
    text = (text or "").strip()
    if not text:
        raise PermanentError("Give the text of the watermark.")
    if len(text) > MAX_WATERMARK:
        raise PermanentError(f"A watermark can be at most {MAX_WATERMARK} characters long.")
    writer = pypdf.PdfWriter(clone_from=open_reader(path, password))
    stamps: dict[tuple[float, float], pypdf.PageObject] = {}
    for page in writer.pages:
        size = (float(page.mediabox.width), float(page.mediabox.height))
        if size not in stamps:
            stamps[size] = _stamp(text, size, opacity)
        page.merge_page(stamps[size], over=True)
    target = out.path(f"{stem_of(path)}-watermarked.pdf")
    _write(writer, target)
    return {"name": target.name, "text": text, "pages": len(writer.pages)}


def _stamp(text: str, size: tuple[float, float], opacity: float) -> pypdf.PageObject:
    """One page of `size` with `text` diagonally across its middle."""
    from reportlab.pdfgen import canvas  # only when a watermark is drawn

    width, height = size
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=size)
    font_size = max(12.0, min(96.0, 1.6 * (width**2 + height**2) ** 0.5 / max(len(text), 1)))
    drawing.setFont("Helvetica-Bold", font_size)
    drawing.setFillGray(0.5, alpha=max(0.05, min(float(opacity), 1.0)))
    drawing.translate(width / 2, height / 2)
    drawing.rotate(45)
    drawing.drawCentredString(0, -font_size / 3, text)
    drawing.save()
    return pypdf.PdfReader(io.BytesIO(buffer.getvalue())).pages[0]


def delete_pages(path: Path, out: OutputFolder, pages: str | None,
                 password: str | None = None) -> dict[str, Any]:
    """The document without the pages named ('2, 5-7'); at least one page must remain."""
    if not pages or not str(pages).strip():
        raise PermanentError("Name the pages to delete, like 2, 5-7.")
    reader = open_reader(path, password)
    gone = {index for group in parse_pages(pages, len(reader.pages)) for index in group}
    if len(gone) == len(reader.pages):
        raise PermanentError("A PDF needs at least one page: not every page can be deleted.")
    writer = pypdf.PdfWriter()
    for index, page in enumerate(reader.pages):
        if index not in gone:
            writer.add_page(page)
    target = out.path(f"{stem_of(path)}-without-pages.pdf")
    _write(writer, target)
    return {"name": target.name, "deleted": sorted(i + 1 for i in gone),
            "pages": len(writer.pages)}


def reorder(path: Path, out: OutputFolder, order: str | None,
            password: str | None = None) -> dict[str, Any]:
    """The pages in the order given ('3, 1-2'); pages not named follow in their own order."""
    if not order or not str(order).strip():
        raise PermanentError("Give the new page order, like 3, 1-2.")
    reader = open_reader(path, password)
    named = [index for group in parse_pages(order, len(reader.pages)) for index in group]
    if len(set(named)) != len(named):
        raise PermanentError("Name each page once in the new order.")
    sequence = named + [i for i in range(len(reader.pages)) if i not in set(named)]
    writer = pypdf.PdfWriter()
    for index in sequence:
        writer.add_page(reader.pages[index])
    target = out.path(f"{stem_of(path)}-reordered.pdf")
    _write(writer, target)
    return {"name": target.name, "order": [i + 1 for i in sequence][:300]}


def protect(path: Path, out: OutputFolder, new_password: str | None,
            password: str | None = None) -> dict[str, Any]:
    """A copy that opens only with `new_password` (AES-256)."""
    if not new_password or len(new_password) < MIN_PASSWORD:
        raise PermanentError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    writer = pypdf.PdfWriter(clone_from=open_reader(path, password))
    writer.encrypt(user_password=new_password, owner_password=new_password,
                   algorithm="AES-256")
    target = out.path(f"{stem_of(path)}-protected.pdf")
    _write(writer, target)
    return {"name": target.name, "encryption": "AES-256", "pages": len(writer.pages)}


def unlock(path: Path, out: OutputFolder, password: str | None) -> dict[str, Any]:
    """A copy without the password, given the password it has now."""
    reader = open_reader(path, password)
    if not reader.is_encrypted:
        return {"name": None, "notes": ["This PDF has no password: there was nothing to remove."]}
    writer = pypdf.PdfWriter(clone_from=reader)
    target = out.path(f"{stem_of(path)}-unlocked.pdf")
    _write(writer, target)
    return {"name": target.name, "pages": len(writer.pages), "notes": []}


def images_to_pdf(paths: list[Path], out: OutputFolder, names: list[str] | None = None,
                  progress: Progress = no_progress) -> dict[str, Any]:
    """The images, upright, as the pages of one PDF in the order given."""
    if not paths:
        raise PermanentError("Choose at least one image.")
    labels = names or [p.name for p in paths]
    heif.register()
    pages: list[Image.Image] = []
    for done, (path, label) in enumerate(zip(paths, labels)):
        progress(done, len(paths), f"Adding {label}")
        with pillow_limits(), Image.open(path) as picture:
            upright = ImageOps.exif_transpose(picture)
            pages.append(upright.convert("L" if upright.mode in ("1", "L") else "RGB"))
    target = out.path("images.pdf")
    pages[0].save(target, "PDF", resolution=IMAGE_DPI, save_all=True, append_images=pages[1:],
                  quality=90)
    return {"name": target.name, "pages": len(pages), "files": labels}
