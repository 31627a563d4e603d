"""Checks every file passes before a parser sees it: hostile or wrong input is refused here.

The real type comes from the bytes, never the name. Word, Excel and PowerPoint files are zip
archives, so they are capped on entry count, unpacked size and compression ratio (zip bombs),
every member is inflated once to prove the sizes and checksums are honest, and every XML part
is refused if it declares a DTD (billion laughs, external entities). Images are opened with
Pillow's decompression-bomb limit on, its warning treated as an error.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError
from PIL import Image, UnidentifiedImageError

from app import filetypes
from app.errors import PermanentError
from app.office import heif
from app.settings import get_settings

FAMILIES: dict[str, str] = {
    "docx": "Word document",
    "xlsx": "Excel workbook",
    "pptx": "PowerPoint presentation",
    "pdf": "PDF document",
    "image": "image",
}
EXTENSIONS: dict[str, str] = {
    ".docx": "docx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".pptx": "pptx",
    ".pptm": "pptx",
    ".pdf": "pdf",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".heic": "image",
    ".heif": "image",
    ".avif": "image",
    # Read through LibreOffice, converted to their Office Open XML form first.
    ".doc": "docx",
    ".odt": "docx",
    ".xls": "xlsx",
    ".ods": "xlsx",
    ".ppt": "pptx",
    ".odp": "pptx",
}
_ODF_FAMILIES = {"odt": "docx", "ods": "xlsx", "odp": "pptx"}

MAX_ZIP_ENTRIES = 10_000
# Past this size a member must not be compressed better than MAX_RATIO:1. Real office XML
# rarely passes 30:1; a run of zeros reaches 1000:1.
RATIO_CHECK_BYTES = 1024 * 1024
MAX_RATIO = 200
CHUNK = 1024 * 1024
XML_SUFFIXES = (".xml", ".rels", ".vml")
PILLOW_DEFAULT_MAX_PIXELS = 89_478_485

_OLE_STREAMS = {
    "encrypted": ("EncryptionInfo", "EncryptedPackage"),
    "docx": ("WordDocument",),
    "xlsx": ("Workbook", "Book"),
    "pptx": ("PowerPoint Document",),
}
_LEGACY_NAMES = {"docx": ".doc", "xlsx": ".xls", "pptx": ".ppt"}


def label(family: str) -> str:
    """'Word document' for 'docx', and so on."""
    return FAMILIES.get(family, family)


def family_of(kind: str) -> str | None:
    """The family an operation module handles for a sniffed type, or None."""
    if kind in filetypes.IMAGE_TYPES:
        return "image"
    if kind in FAMILIES:
        return kind
    return None


def family_from_name(name: str) -> str | None:
    """The family a file name claims, used only to word a rejection well."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def family_of_file(path: Path, name: str | None = None) -> str | None:
    """The family the bytes say, else the one the name claims (to word a refusal well)."""
    return (
        family_of(filetypes.sniff_file(path))
        or legacy_family(path)
        or family_from_name(name or Path(path).name)
    )


def legacy_family(path: Path) -> str | None:
    """'docx' for a .doc or .odt (and so on) that LibreOffice can turn into OOXML, else None.

    Password-protected Office files are OLE containers too; they are not legacy formats.
    """
    kind = filetypes.sniff_file(path)
    if kind in _ODF_FAMILIES:
        return _ODF_FAMILIES[kind]
    if kind != "ole":
        return None
    streams = _ole_stream_names(Path(path))
    if streams & set(_OLE_STREAMS["encrypted"]):
        return None
    return next((f for f in _LEGACY_NAMES if streams & set(_OLE_STREAMS[f])), None)


def check_legacy(path: Path, family: str) -> None:
    """The checks a legacy or OpenDocument file passes before LibreOffice opens it."""
    check_size(path)
    if filetypes.sniff_file(path) in _ODF_FAMILIES:
        check_ooxml(path, family)  # the same zip-bomb, honesty and DTD checks


def check_file(path: Path, expected: str | None = None, name: str | None = None) -> str:
    """Refuse a file that is empty, too big, of the wrong type or hostile; return its family.

    `expected` is a family ('docx', 'xlsx', 'pptx', 'pdf', 'image'); when None the family is
    taken from the bytes (or, for a file that is not what it claims, from its name).
    """
    path = Path(path)
    check_size(path)
    kind = filetypes.sniff_file(path)
    wanted = expected or family_of(kind) or family_from_name(name or path.name)
    if wanted is None:
        raise PermanentError(
            f"This file type is not supported ({filetypes.describe(kind)}). "
            "Upload a Word, Excel, PowerPoint, PDF or image file."
        )
    if family_of(kind) != wanted:
        raise PermanentError(_wrong_type_message(path, kind, wanted))
    if wanted in filetypes.OOXML_TYPES:
        check_ooxml(path, wanted)
    elif wanted == "image":
        check_image(path)
    return wanted


def check_size(path: Path) -> None:
    """Refuse a file that is empty or over the upload cap, whichever queue reads it."""
    size = Path(path).stat().st_size
    if size == 0:
        raise PermanentError("This file is empty.")
    limit = get_settings().max_upload_bytes
    if size > limit:
        raise PermanentError(
            f"This file is {size / 2**20:.0f} MB, over the {limit // 2**20} MB limit."
        )


def _wrong_type_message(path: Path, kind: str, wanted: str) -> str:
    if kind == "ole" and wanted in filetypes.OOXML_TYPES:
        return _ole_message(path, wanted)
    base = f"This file is not a valid {label(wanted)}"
    if kind == "zip" and not _readable_zip(path):
        return f"{base}: it is damaged or incomplete (the zip archive cannot be read)."
    if kind in ("text", "unknown", "zip"):
        return f"{base}."
    return f"{base}: it is a {filetypes.describe(kind)}."


def _readable_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return True


def _ole_message(path: Path, wanted: str) -> str:
    """Office files saved with a password are OLE containers, as are pre-2007 formats."""
    streams = _ole_stream_names(path)
    if streams & set(_OLE_STREAMS["encrypted"]):
        return (
            f"This {label(wanted)} is protected with a password, so it cannot be read. "
            "Open it in Office, remove the password and upload it again."
        )
    if streams & set(_OLE_STREAMS[wanted]):
        return (
            f"This is an old-format {_LEGACY_NAMES[wanted]} file. Open it in Office, save it "
            f"as {label(wanted)} ({_LEGACY_NAMES[wanted]}x) and upload it again."
        )
    return f"This file is not a valid {label(wanted)}: it is a {filetypes.describe('ole')}."


def _ole_stream_names(path: Path) -> set[str]:
    """Which known stream names appear in an OLE file (directory names are UTF-16LE)."""
    wanted = {name: name.encode("utf-16-le") for names in _OLE_STREAMS.values() for name in names}
    overlap = max(len(encoded) for encoded in wanted.values())
    found: set[str] = set()
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            window = tail + chunk
            found.update(name for name, encoded in wanted.items() if encoded in window)
            tail = window[-overlap:]
    return found


def check_ooxml(path: Path, family: str) -> None:
    """Refuse zip bombs, dishonest or damaged archives and XML with a DTD."""
    what = label(family)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_declared_sizes(members, what)
            _inflate_all(archive, members, what)
    except PermanentError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise PermanentError(
            f"This {what} is damaged or incomplete, so it cannot be read ({_short(exc)})."
        ) from None
    except (NotImplementedError, RuntimeError):
        raise PermanentError(
            f"This {what} uses zip encryption or compression that Office files never use."
        ) from None


def _check_declared_sizes(members: list[zipfile.ZipInfo], what: str) -> None:
    if len(members) > MAX_ZIP_ENTRIES:
        raise PermanentError(
            f"This {what} holds {len(members):,} parts, more than the {MAX_ZIP_ENTRIES:,} "
            "allowed; it looks like a zip bomb."
        )
    declared = sum(member.file_size for member in members)
    if declared > get_settings().max_inflated_bytes:
        raise PermanentError(_too_big_unpacked(what))
    for member in members:
        if member.flag_bits & 0x1:
            raise PermanentError(f"This {what} contains password-protected parts.")
        if member.file_size > RATIO_CHECK_BYTES and (
            member.file_size > MAX_RATIO * max(member.compress_size, 1)
        ):
            raise PermanentError(
                f"This {what} is compressed more than {MAX_RATIO}:1 "
                f"({member.filename}), which only zip bombs do; it was refused."
            )


def _too_big_unpacked(what: str) -> str:
    cap = get_settings().max_inflated_mb
    return (
        f"This {what} expands to more than {cap} MB when unpacked, which is over the "
        "safety limit; it may be a zip bomb."
    )


def _inflate_all(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], what: str) -> None:
    """Inflate every member once: proves sizes and CRCs are honest and vets XML prologs."""
    cap = get_settings().max_inflated_bytes
    total = 0
    for member in members:
        prolog = XmlPrologCheck(what) if member.filename.endswith(XML_SUFFIXES) else None
        with archive.open(member) as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > cap:
                    raise PermanentError(_too_big_unpacked(what))
                if prolog is not None and not prolog.done:
                    prolog.feed(chunk)


class _RootReached(Exception):
    """The parse reached the root element, past the only place a DTD may appear."""


class _StopAtRoot:
    def start(self, tag: str, attrib: dict) -> None:
        raise _RootReached

    def end(self, tag: str) -> None:
        """Never reached: parsing stops at the first start tag."""

    def data(self, data: str) -> None:
        """Text before the root is whitespace."""

    def close(self) -> None:
        """Nothing to build."""


class XmlPrologCheck:
    """Feeds an XML part to defusedxml until its root element: any DTD or entity is refused."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.done = False
        self._parser = DefusedXMLParser(
            target=_StopAtRoot(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.feed(chunk)
        except _RootReached:
            self.done = True
        except DefusedXmlException:
            raise PermanentError(
                f"This {self.what} contains XML entity or DTD declarations, which Office "
                "never writes and which can be used to attack a server; it was refused."
            ) from None
        except ParseError:
            raise PermanentError(
                f"This {self.what} is damaged: one of its parts is not valid XML."
            ) from None


def check_image(path: Path) -> None:
    """Refuse images Pillow cannot identify and images past the decompression-bomb limit."""
    heif.register()  # HEIC photos pass the same header read and pixel limit as any image
    with pillow_limits():
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - the header read is the check
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PermanentError(_pixel_bomb_message()) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise PermanentError("This file is not a valid image, or it is damaged.") from None


def _pixel_bomb_message() -> str:
    limit = Image.MAX_IMAGE_PIXELS or PILLOW_DEFAULT_MAX_PIXELS
    return (
        f"This image has more than {limit / 1e6:.0f} million pixels, too many to open "
        "safely; it may be a decompression bomb."
    )


@contextmanager
def pillow_limits() -> Iterator[None]:
    """Pillow with its pixel limit on and the bomb *warning* raised as an error too."""
    if not Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = PILLOW_DEFAULT_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PermanentError(_pixel_bomb_message()) from None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "…"
