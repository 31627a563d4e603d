"""Hostile and broken files, generated in code: each one is something a server must survive."""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from pathlib import Path

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx_with(
    path: Path, document_xml: str | bytes, extra: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("word/document.xml", document_xml)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def zip_bomb(path: Path, inflated_mb: int = 210) -> Path:
    """A .docx whose one media part inflates to `inflated_mb` MB of zeros (about 0.2 MB)."""
    body = f'<w:document xmlns:w="{W_NS}"><w:body><w:p/></w:body></w:document>'
    _docx_with(path, body)
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("word/media/bomb.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(inflated_mb):
            member.write(chunk)
    return path


def ratio_bomb(path: Path) -> Path:
    """Small in total but one part compresses 1000:1: only a bomb does that."""
    body = f'<w:document xmlns:w="{W_NS}"><w:body><w:p/></w:body></w:document>'
    return _docx_with(path, body, {"word/media/zeros.bin": bytes(8 * 1024 * 1024)})


def lying_sizes(path: Path) -> Path:
    """A part that claims to be 100 bytes but inflates to 2 MB: its headers lie."""
    payload = bytes(2 * 1024 * 1024)
    body = f'<w:document xmlns:w="{W_NS}"><w:body><w:p/></w:body></w:document>'
    _docx_with(path, body, {"word/media/liar.bin": payload})
    data = bytearray(path.read_bytes())
    name = b"word/media/liar.bin"
    local = data.find(b"PK\x03\x04" + b"\x14\x00")
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if data[local + 30 : local + 30 + name_len] == name:
            struct.pack_into("<I", data, local + 22, 100)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == name:
            struct.pack_into("<I", data, central + 24, 100)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))
    return path


def billion_laughs(path: Path) -> Path:
    """A .docx whose document.xml nests entities ten deep: 10^9 'lol's if expanded."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    body = (
        '<?xml version="1.0"?><!DOCTYPE lolz [' + "".join(entities) + "]>"
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    return _docx_with(path, body)


def xxe(path: Path, target: str = "file:///etc/passwd") -> Path:
    """A .docx whose document.xml pulls in a local file through an external entity."""
    body = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "{target}">]>'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    return _docx_with(path, body)


def truncated(source: Path, path: Path, keep: float = 0.6) -> Path:
    """The first part of a good file, as an interrupted upload leaves it."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def random_bytes(path: Path, size: int = 4096, seed: int = 7) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def pixel_bomb(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A PNG of a few hundred bytes that claims width×height pixels (900 million by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def cyclic_pdf(path: Path) -> Path:
    """A PDF whose page tree contains itself: a naive walker recurses forever."""
    path.write_bytes(
        _pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            ]
        )
    )
    return path


def encrypted_office(path: Path) -> Path:
    """What Office writes for a password-protected .docx: an OLE container with an
    EncryptionInfo and an EncryptedPackage stream (only the names matter here)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    directory = b"".join(
        name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64)
        for name in ("Root Entry", "EncryptionInfo", "EncryptedPackage")
    )
    path.write_bytes(header + directory + bytes(1024))
    return path


def legacy_word(path: Path) -> Path:
    """An old binary .doc: an OLE container with a WordDocument stream."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    directory = b"".join(
        name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64)
        for name in ("Root Entry", "WordDocument", "1Table")
    )
    path.write_bytes(header + directory + bytes(1024))
    return path


def excel_zip_bomb(path: Path, inflated_mb: int = 210) -> Path:
    """A real .xlsx with one extra part that inflates to `inflated_mb` MB of zeros."""
    import openpyxl  # only this builder needs it

    book = openpyxl.Workbook()
    book.active.append(["region", "amount"])
    book.active.append(["north", 1])
    book.save(path)
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/media/bomb.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(inflated_mb):
            member.write(chunk)
    return path
