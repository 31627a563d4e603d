"""The Files page draws finished jobs for people: metrics, tables, previews, images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs
from tests.support.pages import page_test
from tests.support.users import ADMIN, TESTER
from tests.unit.office import hostile, samples

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def page_for(job_id: str) -> AppTest:
    jobs.wait(job_id, timeout=60, user=ADMIN)
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30)
    at.session_state["files_job"] = job_id
    at.run()
    assert not at.exception, at.exception
    return at


def submit(kind: str, params: dict, *paths: Path) -> str:
    return jobs.submit(kind, params, files=[(p.name, p.read_bytes()) for p in paths], user=TESTER)


def test_page_states_accepted_types_and_limits(worker) -> None:
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30).run()
    assert not at.exception
    caption = at.caption[0].value
    assert "Word (.docx)" in caption and "100 MB" in caption and "200 MB" in caption


def test_excel_and_pdf_results_render(worker, tmp_path: Path) -> None:
    workbook = samples.excel_workbook(tmp_path / "sales.xlsx")
    at = page_for(
        submit(
            "process_excel_file",
            {"operations": ["analyze", "calculate"], "options": {"group_by": "Region"}},
            workbook,
        )
    )
    labels = {m.label for m in at.metric}
    assert {"Used range", "Rows", "Formulas", "Empty cells"} <= labels
    assert any("no saved result" in i.value for i in at.info)
    assert any("Region" in frame.value.columns for frame in at.dataframe)
    shown = " ".join(frame.value.astype(str).to_string() for frame in at.dataframe)
    assert not re.search(r"\b(None|NaN|nan|<NA>)\b", shown), shown  # empty cells stay empty

    document = samples.pdf_document(tmp_path / "manual.pdf", pages=2, scanned=1)
    at = page_for(submit("process_pdf", {"operations": ["extract_text", "thumbnails"]}, document))
    assert any("look scanned" in w.value for w in at.warning)
    assert "Page 1 of Sample" in at.code[0].value
    assert len(at.get("image")) >= 1
    assert any("All outputs" in b.label for b in at.get("download_button"))


def test_batch_result_shows_each_file(worker, tmp_path: Path) -> None:
    good = samples.photo_with_exif(tmp_path / "photo.jpg")
    bad = hostile.empty(tmp_path / "empty.docx")
    at = page_for(submit("batch_process_files", {}, good, bad))
    assert {m.label: m.value for m in at.metric if m.label.startswith("Files")} == {
        "Files processed": "1",
        "Files refused": "1",
    }
    table = next(f.value for f in at.dataframe if "Problem" in f.value.columns)
    assert list(table["Problem"]) == ["", "This file is empty."]


@pytest.mark.parametrize(
    ("kind", "make", "name"),
    [
        ("process_word_document", samples.word_document, "report.docx"),
        ("process_powerpoint", samples.presentation, "launch.pptx"),
        ("process_image", samples.photo_with_exif, "photo.jpg"),
    ],
)
def test_every_operation_renders(worker, tmp_path: Path, kind: str, make, name: str) -> None:
    from app.office import runner

    family = {"process_word_document": "docx", "process_powerpoint": "pptx"}.get(kind, "image")
    path = make(tmp_path / name)
    params = {"operations": runner.single_file_operations(family), "options": {"width": 120}}
    at = page_for(submit(kind, params, path))
    assert not at.error, [e.value for e in at.error]
    assert at.metric and at.get("image")


def test_upload_pick_operations_and_submit(worker, tmp_path: Path) -> None:
    first = samples.pdf_document(tmp_path / "a.pdf", pages=1, title="First")
    second = samples.pdf_document(tmp_path / "b.pdf", pages=2, title="Second")
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30).run()
    at.file_uploader[0].set_value(
        [(p.name, p.read_bytes(), "application/pdf") for p in (first, second)]
    ).run()
    assert not at.checkbox[0].value  # PDFs of one kind default to one job, so they can merge
    at.multiselect(key="ops-pdf").set_value(["metadata", "merge"]).run()
    next(b for b in at.button if b.label == "Process").click().run()
    record = jobs.wait(at.session_state["files_job"], timeout=60, user=ADMIN)
    assert record["kind"] == "process_pdf" and record["state"] == "SUCCESS", record["error"]
    assert record["result"]["merge"]["merge"]["pages"] == 3
    at.run()
    assert any("Merged 2 PDFs into merged.pdf (3 pages)." in s.value for s in at.success)


def test_a_scanned_pdf_gets_an_ocr_button_that_makes_it_searchable(
    worker, tmp_path: Path
) -> None:
    scan = samples.scanned_pdf(tmp_path / "contract.pdf")
    first = submit("process_pdf", {"operations": ["extract_text"]}, scan)
    at = page_for(first)
    assert any("no text layer" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Run OCR on this scanned PDF").click().run()
    assert not at.exception, at.exception
    ocr_job = at.session_state["files_job"]
    assert ocr_job != first
    record = jobs.wait(ocr_job, timeout=240, user=ADMIN)
    assert (record["kind"], record["queue"], record["state"]) == (
        "ocr_documents", "ocr", "SUCCESS"
    ), record["error"]
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Pages"], metrics["Recognised"], metrics["Languages"]) == ("1", "1", "eng")
    assert "library should open longer hours" in at.code[0].value
    assert any("contract-ocr.pdf" in b.label for b in at.get("download_button"))


def test_uploaded_images_can_be_sent_to_ocr_with_languages(worker, tmp_path: Path) -> None:
    note = samples.scanned_png(tmp_path / "note.png")
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30).run()
    at.file_uploader[0].set_value([(note.name, note.read_bytes(), "image/png")]).run()
    at.multiselect(key="ocr-upload-langs").set_value(["eng", "deu"]).run()
    next(b for b in at.button if b.label == "Run OCR").click().run()
    assert not at.exception, at.exception
    record = jobs.wait(at.session_state["files_job"], timeout=240, user=ADMIN)
    assert record["state"] == "SUCCESS", record["error"]
    summary = record["result"]["files"][0]["operations"]["ocr"]
    assert summary["languages"] == ["eng", "deu"] and summary["ocr_pages"] == 1


def test_pdf_tools_are_offered_and_their_result_says_what_changed(
    worker, tmp_path: Path
) -> None:
    document = samples.pdf_document(tmp_path / "memo.pdf", pages=3)
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30).run()
    at.file_uploader[0].set_value([(document.name, document.read_bytes(), "application/pdf")])
    at.run()
    at.multiselect(key="ops-pdf").set_value(["delete_pages", "watermark"]).run()
    next(t for t in at.text_input if t.label == "Pages to delete").set_value("2").run()
    next(b for b in at.button if b.label == "Process").click().run()
    record = jobs.wait(at.session_state["files_job"], timeout=60, user=ADMIN)
    assert record["state"] == "SUCCESS", record["error"]
    at.run()
    said = " ".join(m.value for m in at.markdown)
    assert "memo-without-pages.pdf: pages 2 deleted." in said
    assert "memo-watermarked.pdf: watermark “CONFIDENTIAL” on every page." in said
