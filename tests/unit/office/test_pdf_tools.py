"""The PDF tools as a person sees their result: pages gone or moved, a watermark, a password."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest
from PIL import Image

from app.errors import PermanentError
from app.office import pdf, runner
from tests.unit.office import samples


def run(path: Path, out_dir: Path, operation: str, **options) -> dict:
    result = runner.process_file(path, out_dir, operations=[operation], options=options)
    return result["operations"][operation]


def page_titles(path: Path, password: str | None = None) -> list[str]:
    return [text.splitlines()[0] for text in pdf.page_texts(path, password)]


def test_delete_and_reorder_pages(tmp_path: Path) -> None:
    document = samples.pdf_document(tmp_path / "book.pdf", pages=4)
    made = run(document, tmp_path, "delete_pages", delete_pages="2, 4")
    assert page_titles(tmp_path / made["name"]) == ["Page 1 of Sample", "Page 3 of Sample"]
    made = run(document, tmp_path, "reorder", order="4, 2")
    assert page_titles(tmp_path / made["name"]) == [
        "Page 4 of Sample", "Page 2 of Sample", "Page 1 of Sample", "Page 3 of Sample"
    ]
    with pytest.raises(PermanentError, match="at least one page"):
        run(document, tmp_path, "delete_pages", delete_pages="1-4")
    with pytest.raises(PermanentError, match="this PDF has 4 page"):
        run(document, tmp_path, "reorder", order="5")


def test_a_watermark_is_on_every_page(tmp_path: Path) -> None:
    document = samples.pdf_document(tmp_path / "memo.pdf", pages=2)
    made = run(document, tmp_path, "watermark", watermark_text="DRAFT")
    texts = pdf.page_texts(tmp_path / made["name"])
    assert all("DRAFT" in text and "Page" in text for text in texts) and len(texts) == 2


def test_protect_then_unlock_with_the_known_password(tmp_path: Path) -> None:
    document = samples.pdf_document(tmp_path / "salary.pdf", pages=1)
    made = run(document, tmp_path, "protect", new_password="tulip-42")
    locked = tmp_path / made["name"]
    assert pypdf.PdfReader(locked).is_encrypted
    with pytest.raises(PermanentError, match="password-protected"):
        pdf.page_texts(locked)
    with pytest.raises(PermanentError, match="not correct"):
        run(locked, tmp_path, "unlock", password="wrong")
    opened = run(locked, tmp_path, "unlock", password="tulip-42")
    assert not pypdf.PdfReader(tmp_path / opened["name"]).is_encrypted
    assert page_titles(tmp_path / opened["name"]) == ["Page 1 of Sample"]
    with pytest.raises(PermanentError, match="at least 4 characters"):
        run(document, tmp_path, "protect", new_password="abc")


def test_compress_makes_a_photo_heavy_pdf_smaller(tmp_path: Path) -> None:
    noisy = Image.effect_noise((1200, 1200), 80).convert("RGB")
    heavy = tmp_path / "photos.pdf"
    noisy.save(heavy, "PDF", resolution=150, quality=100)
    made = run(heavy, tmp_path, "compress", quality=40)
    assert made["bytes_after"] < made["bytes_before"] * 0.8
    assert made["images_recompressed"] == 1
    assert len(pdf.page_texts(tmp_path / made["name"])) == 1


def test_images_become_one_pdf_in_order_and_upright(tmp_path: Path) -> None:
    photo = samples.photo_with_exif(tmp_path / "photo.jpg")  # 400×200 taken sideways
    heic = samples.heic_photo(tmp_path / "phone.heic")
    flat = samples.transparent_png(tmp_path / "logo.png")
    summary = runner.process_files([photo, heic, flat], tmp_path / "out", family="image",
                                   operations=["images_to_pdf"])
    made = summary["images_to_pdf"]["images_to_pdf"]
    assert made["pages"] == 3 and made["files"] == ["photo.jpg", "phone.heic", "logo.png"]
    with pdf.open_document(tmp_path / "out" / made["name"]) as document:
        width, height = document.get_page_size(0)
        assert height > width  # the sideways photo is upright
        assert len(document) == 3
