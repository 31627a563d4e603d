"""OCR without the queue: real tesseract, page progress, and the sentence when tools are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import PermanentError
from app.office import ocr
from app.office.outputs import OutputFolder
from tests.unit.office import samples


def test_progress_is_reported_per_page(tmp_path: Path, out: OutputFolder) -> None:
    seen: list[tuple[int, int, str]] = []
    scan = samples.scanned_pdf(tmp_path / "two.pdf", pages=2)
    summary = ocr.ocr_file(scan, out, languages=["eng"], progress=lambda *a: seen.append(a))
    assert summary["ocr_pages"] == 2
    pages = [message for _, _, message in seen if message.startswith("OCR: page")]
    assert "OCR: page 1 of 2" in pages and "OCR: page 2 of 2" in pages
    assert all(total == 2 for _, total, message in seen if message.startswith("OCR"))


def test_without_tesseract_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Path], out: OutputFolder
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # a worker where nothing was installed
    with pytest.raises(PermanentError) as refused:
        ocr.ocr_file(files["pdf"], out, languages=["eng"])
    message = str(refused.value)
    assert "tesseract-ocr, ghostscript, unpaper" in message
    assert "apt-get install -y --no-install-recommends tesseract-ocr" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ["eng"]), ("", ["eng"]), ("eng+deu", ["eng", "deu"]), ("deu, fra", ["deu", "fra"]),
     (["fra", "fra"], ["fra"])],
)
def test_languages_are_read_as_tesseract_writes_them(value, expected: list[str]) -> None:
    assert ocr.parse_languages(value, "eng") == expected


def test_installed_languages_include_the_packs_make_test_installs() -> None:
    assert {"eng", "deu", "fra"} <= set(ocr.installed_languages())
