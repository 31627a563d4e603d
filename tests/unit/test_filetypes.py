"""The real type comes from the bytes; the extension is never trusted."""

from __future__ import annotations

import io
import zipfile

import pytest

from app import filetypes


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.4 ...", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0JFIF", "jpeg"),
        (b"GIF89a....", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "heif"),
        (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00avifmif1miafMA1B", "avif"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "unknown"),  # an MP4 video
        (b"", "empty"),
        (b"\x00\x01\x02\x03garbage", "unknown"),
        (b'{"a": 1}', "json"),
        (b"name,email\nAda,ada@example.com\n", "csv"),
        (b"Just words.", "text"),
    ],
)
def test_sniff_bytes(head: bytes, kind: str) -> None:
    assert filetypes.sniff_bytes(head) == kind


def _zip(tmp_path, names: list[str]):
    path = tmp_path / "file.bin"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return path


@pytest.mark.parametrize(
    ("parts", "kind"),
    [
        (["[Content_Types].xml", "word/document.xml"], "docx"),
        (["[Content_Types].xml", "xl/workbook.xml"], "xlsx"),
        (["[Content_Types].xml", "ppt/presentation.xml"], "pptx"),
        (["readme.txt"], "zip"),
    ],
)
def test_zip_containers_are_told_apart_by_their_parts(tmp_path, parts, kind) -> None:
    assert filetypes.sniff_file(_zip(tmp_path, parts)) == kind


def test_truncated_zip_is_only_a_zip(tmp_path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<x/>" * 1000)
        archive.writestr("word/document.xml", "<x/>" * 1000)
    path = tmp_path / "cut.docx"
    path.write_bytes(buffer.getvalue()[:200])
    assert filetypes.sniff_file(path) == "zip"
