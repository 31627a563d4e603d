"""What a file really is, read from its first bytes; the extension is never trusted."""

from __future__ import annotations

import zipfile
from pathlib import Path

SNIFF_BYTES = 8192

LABELS = {
    "pdf": "PDF document",
    "docx": "Word document",
    "xlsx": "Excel workbook",
    "pptx": "PowerPoint presentation",
    "ole": "legacy or encrypted Office file",
    "zip": "zip archive",
    "png": "PNG image",
    "jpeg": "JPEG image",
    "gif": "GIF image",
    "webp": "WebP image",
    "tiff": "TIFF image",
    "bmp": "BMP image",
    "json": "JSON",
    "csv": "CSV",
    "text": "plain text",
    "empty": "empty file",
    "unknown": "unknown binary",
}

IMAGE_TYPES = frozenset({"png", "jpeg", "gif", "webp", "tiff", "bmp"})
OOXML_TYPES = frozenset({"docx", "xlsx", "pptx"})

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
)

_OOXML_MAIN_PART = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}


def sniff_bytes(head: bytes) -> str:
    """The type of a file from its first bytes, without looking inside zip archives."""
    if not head:
        return "empty"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return _sniff_text(head)


def sniff_file(path: Path) -> str:
    """The type of the file at `path`; zip archives are told apart by their OOXML parts."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    kind = sniff_bytes(head)
    if kind == "zip":
        return _sniff_zip(path)
    return kind


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if "[Content_Types].xml" not in names:
        return "zip"
    for prefix, kind in _OOXML_MAIN_PART.items():
        if any(name.startswith(prefix) for name in names):
            return kind
    return "zip"


def _sniff_text(head: bytes) -> str:
    if b"\x00" in head:
        return "unknown"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the sniff boundary is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "unknown"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        return "json"
    first_line = stripped.split("\n", 1)[0]
    if "," in first_line or ";" in first_line or "\t" in first_line:
        return "csv"
    return "text"


def describe(kind: str) -> str:
    """A label a person understands, such as 'Word document'."""
    return LABELS.get(kind, kind)
