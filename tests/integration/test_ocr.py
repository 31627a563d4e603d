"""The ocr queue through a real worker and real tesseract: scans become searchable PDFs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import jobs, storage
from app.office import pdf
from tests.support.users import ADMIN, TESTER
from tests.unit.office import samples

pytestmark = pytest.mark.integration


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def share_recognised(text: str, expected: str = samples.PARAGRAPH) -> float:
    """How many of the paragraph's words, in order of appearance, OCR got right."""
    wanted, found = words(expected), set(words(text))
    return sum(word in found for word in wanted) / len(wanted)


def run(params: dict, *paths: Path, timeout: float = 240) -> dict:
    job_id = jobs.submit("ocr_documents", params, files=[(p.name, p.read_bytes()) for p in paths],
                         user=TESTER)
    return jobs.wait(job_id, timeout=timeout, user=ADMIN)


def output(record: dict, name: str) -> Path:
    return storage.outputs_dir(record["id"]) / name


def test_a_skewed_noisy_scan_becomes_a_searchable_pdf(worker, tmp_path: Path) -> None:
    record = run({}, samples.scanned_pdf(tmp_path / "contract.pdf"))
    assert record["state"] == "SUCCESS", record["error"]
    assert record["queue"] == "ocr"
    summary = record["result"]["files"][0]["operations"]["ocr"]
    assert (summary["pages"], summary["ocr_pages"], summary["languages"]) == (1, 1, ["eng"])
    # The text file and the PDF's new text layer both hold the paragraph.
    assert share_recognised(output(record, "contract.txt").read_text()) >= 0.9
    layer = pdf.page_texts(output(record, "contract-ocr.pdf"))
    assert share_recognised(layer[0]) >= 0.9
    assert record["progress"]["message"] == "Done"


def test_a_pdf_that_has_text_comes_back_unchanged(worker, tmp_path: Path) -> None:
    original = samples.pdf_document(tmp_path / "typed.pdf", pages=2)
    record = run({"languages": ["eng"]}, original)
    assert record["state"] == "SUCCESS", record["error"]
    summary = record["result"]["files"][0]["operations"]["ocr"]
    assert summary["ocr_pages"] == 0 and summary["skipped_pages"] == [1, 2]
    assert output(record, "typed-ocr.pdf").read_bytes() == original.read_bytes()
    assert "Page 2 of Sample" in output(record, "typed.txt").read_text()
    assert "returned unchanged" in summary["notes"][0]


def test_an_image_is_cleaned_and_recognised_as_pdfa(worker, tmp_path: Path) -> None:
    record = run({"pdfa": True, "clean": True}, samples.scanned_png(tmp_path / "receipt.png"))
    assert record["state"] == "SUCCESS", record["error"]
    summary = record["result"]["files"][0]["operations"]["ocr"]
    assert summary["pdfa"] is True
    made = output(record, "receipt-ocr.pdf").read_bytes()
    assert b"pdfaid:part" in made  # the XMP metadata that declares PDF/A
    assert share_recognised(output(record, "receipt.txt").read_text()) >= 0.9


@pytest.mark.parametrize(
    ("params", "make", "sentence"),
    [
        ({"languages": ["xyz"]}, lambda p: samples.scanned_png(p / "a.png"),
         "apt-get install -y tesseract-ocr-xyz"),
        ({}, lambda p: samples.word_document(p / "letter.docx"),
         "OCR reads PDFs and images, not a Word document."),
        ({}, lambda p: samples.encrypted_pdf(p / "locked.pdf"), "Remove its password first"),
    ],
)
def test_refusals_fail_at_once_with_a_sentence(
    worker, tmp_path: Path, params: dict, make, sentence: str
) -> None:
    record = run(params, make(tmp_path), timeout=60)
    assert record["state"] == "FAILURE"
    assert sentence in record["error"]
    assert record["retries"] == 0
