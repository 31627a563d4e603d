"""The files queue through a real worker: every task, hostile files, and batches."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from app import jobs
from tests.support.object_store import BOTH_STORES
from tests.support.users import ADMIN, TESTER
from tests.unit.office import hostile, samples

pytestmark = [pytest.mark.integration, *BOTH_STORES]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("files-queue")
    return {
        "docx": samples.word_document(root / "report.docx"),
        "xlsx": samples.excel_workbook(root / "sales.xlsx"),
        "pptx": samples.presentation(root / "launch.pptx"),
        "pdf": samples.pdf_document(root / "manual.pdf", pages=2),
        "pdf2": samples.pdf_document(root / "appendix.pdf", pages=1, title="Appendix"),
        "jpeg": samples.photo_with_exif(root / "photo.jpg"),
        "laughs": hostile.billion_laughs(root / "laughs.docx"),
        "bomb": hostile.zip_bomb(root / "bomb.docx"),
        "pixels": hostile.pixel_bomb(root / "huge.png"),
        "cyclic": hostile.cyclic_pdf(root / "loop.pdf"),
        "random": hostile.random_bytes(root / "notes.docx"),
    }


def upload(path: Path) -> tuple[str, bytes]:
    return path.name, path.read_bytes()


def run(kind: str, params: dict, *paths: Path, timeout: float = 60) -> dict:
    job_id = jobs.submit(kind, params, files=[upload(p) for p in paths], user=TESTER)
    return jobs.wait(job_id, timeout=timeout, user=ADMIN)


@pytest.mark.parametrize(
    ("kind", "key", "operations", "expected_output"),
    [
        ("process_word_document", "docx", ["extract_text", "to_markdown"], "report.md"),
        ("process_excel_file", "xlsx", ["analyze", "convert"], "sales-Sales.csv"),
        ("process_powerpoint", "pptx", ["extract_text", "outline"], "launch-outline.md"),
        ("process_pdf", "pdf", ["extract_text", "thumbnails"], "manual-page-001.png"),
        ("process_image", "jpeg", ["info", "thumbnail"], "photo-thumb.jpg"),
    ],
)
def test_each_task_succeeds_with_outputs(
    worker, made: dict[str, Path], kind: str, key: str, operations: list[str], expected_output: str
) -> None:
    record = run(kind, {"operations": operations}, made[key])
    assert record["state"] == "SUCCESS", record["error"]
    assert record["queue"] == "files"
    assert set(record["result"]["files"][0]["operations"]) == set(operations)
    names = [output["name"] for output in record["outputs"]]
    assert expected_output in names
    assert jobs.output_bytes(record["id"], expected_output, user=ADMIN)
    assert record["progress"]["message"] == "Done"


def test_merge_and_a_password_kept_out_of_the_record(worker, made: dict[str, Path]) -> None:
    record = run(
        "process_pdf", {"operations": ["merge"], "password": "unused"}, made["pdf2"], made["pdf"]
    )
    assert record["state"] == "SUCCESS", record["error"]
    assert record["result"]["merge"]["merge"]["pages"] == 3
    assert record["params"]["password"] == "********"
    with zipfile.ZipFile(io.BytesIO(jobs.zip_outputs(record["id"], user=ADMIN))) as archive:
        assert archive.namelist() == ["merged.pdf"]


@pytest.mark.parametrize(
    ("kind", "key", "sentence"),
    [
        ("process_word_document", "laughs", "entity or DTD declarations"),
        ("process_word_document", "bomb", "expands to more than 200 MB when unpacked"),
        ("process_image", "pixels", "too many to open safely"),
        ("process_pdf", "cyclic", "page tree is broken"),
        ("process_word_document", "random", "This file is not a valid Word document."),
        (
            "process_excel_file",
            "pdf",
            "This file is not a valid Excel workbook: it is a PDF document.",
        ),
    ],
)
def test_hostile_files_fail_at_once_with_a_sentence_and_the_worker_lives_on(
    worker, made: dict[str, Path], kind: str, key: str, sentence: str
) -> None:
    record = run(kind, {}, made[key])
    assert record["state"] == "FAILURE"
    assert sentence in record["error"]
    assert record["retries"] == 0
    assert worker.alive()
    following = run("process_image", {"operations": ["info"]}, made["jpeg"])
    assert following["state"] == "SUCCESS"


def test_batch_runs_children_in_parallel_and_one_bad_file_fails_alone(
    worker, made: dict[str, Path]
) -> None:
    record = run(
        "batch_process_files",
        {
            "operations": {"pdf": ["metadata"], "image": ["thumbnail"]},
            "options": {"image": {"thumbnail_size": 64}},
        },
        made["docx"],
        made["pdf"],
        made["jpeg"],
        made["laughs"],
        timeout=90,
    )
    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert (result["succeeded"], result["failed"]) == (3, 1)
    by_file = {entry["file"]: entry for entry in result["files"]}
    assert by_file["report.docx"]["ok"] and "extract_text" in by_file["report.docx"]["operations"]
    assert set(by_file["manual.pdf"]["operations"]) == {"metadata"}
    assert "entity or DTD declarations" in by_file["laughs.docx"]["error"]
    children = {child["id"]: child for child in jobs.children(record["id"], user=ADMIN)}
    assert len(children) == 4
    bad = children[by_file["laughs.docx"]["job_id"]]
    assert bad["state"] == "FAILURE" and bad["retries"] == 0 and bad["parent"] == record["id"]
    assert children[by_file["photo.jpg"]["job_id"]]["kind"] == "process_image"
    thumbnail = by_file["photo.jpg"]["operations"]["thumbnail"]
    assert (thumbnail["width"], thumbnail["height"]) == (32, 64)
    names = [output["name"] for output in record["outputs"]]
    assert "photo.jpg/photo-thumb.jpg" in names and "report.docx/report.txt" in names


def test_batch_of_good_files_reports_progress_and_no_stray_jobs(
    worker, made: dict[str, Path]
) -> None:
    record = run(
        "batch_process_files",
        {"operations": ["metadata", "info"]},
        made["pdf"],
        made["jpeg"],
        timeout=60,
    )
    assert record["state"] == "SUCCESS", record["error"]
    assert record["kind"] == "batch_process_files"
    assert (record["result"]["succeeded"], record["result"]["failed"]) == (2, 0)
    assert record["progress"]["message"] == "Done"
    assert len(record["children"]) == 2
    assert jobs.list(kind="finish_file_batch", user=ADMIN).total == 0
