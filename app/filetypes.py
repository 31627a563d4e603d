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
    "odt": "OpenDocument text",
    "ods": "OpenDocument spreadsheet",
    "odp": "OpenDocument presentation",
    "zip": "zip archive",
    "png": "PNG image",
    "jpeg": "JPEG image",
    "gif": "GIF image",
    "webp": "WebP image",
    "tiff": "TIFF image",
    "bmp": "BMP image",
    "heif": "HEIC/HEIF photo",
    "avif": "AVIF image",
    "json": "JSON",
    "csv": "CSV",
    "text": "plain text",
    "empty": "empty file",
    "unknown": "unknown binary",
}

IMAGE_TYPES = frozenset({"png", "jpeg", "gif", "webp", "tiff", "bmp", "heif", "avif"})
OOXML_TYPES = frozenset({"docx", "xlsx", "pptx"})
ODF_TYPES = frozenset({"odt", "ods", "odp"})

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
_ODF_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
# ISO base media files (HEIF, AVIF) open with an `ftyp` box: size, b"ftyp", major brand,
# minor version, then compatible brands. AVIF is told apart by its brands, HEIF by the rest.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def sniff_bytes(head: bytes) -> str:
    """The type of a file from its first bytes, without looking inside zip archives."""
    if not head:
        return "empty"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
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


def _sniff_ftyp(head: bytes) -> str:
    """HEIF or AVIF from the brands of an ISO base media `ftyp` box; other MP4s are unknown."""
    size = int.from_bytes(head[:4], "big")
    box = head[8 : max(16, min(size, len(head)))]
    brands = {box[i : i + 4] for i in range(0, len(box) - 3, 4)} - {b"\x00\x00\x00\x00"}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIF_BRANDS:
        return "heif"
    return "unknown"


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if "[Content_Types].xml" not in names:
        return _sniff_odf(path) if "mimetype" in names else "zip"
    for prefix, kind in _OOXML_MAIN_PART.items():
        if any(name.startswith(prefix) for name in names):
            return kind
    return "zip"


def _sniff_odf(path: Path) -> str:
    """OpenDocument files name their kind in a small first member called `mimetype`."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("mimetype")
            if info.file_size > 100:
                return "zip"
            return _ODF_MIMETYPES.get(archive.read(info).strip(), "zip")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, NotImplementedError):
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
