"""Chunked batches through a real worker: what a person sees is one job per file, as ever.

Many small images share a Celery task, a large PDF gets one of its own, and still every file
has its own record, state, result and outputs; a bad file fails alone with its sentence, the
batch zip holds every output once, and a cancel stops the files not yet run.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from app import jobs
from app.office import batch
from tests.chaos.stack import wait_for
from tests.support.users import ADMIN, TESTER
from tests.unit.office import hostile

pytestmark = pytest.mark.integration

IMAGES = 80


def photo(index: int, size: tuple[int, int] = (200, 150)) -> tuple[str, bytes]:
    """A small noisy JPEG, a little different each time."""
    noise = Image.effect_noise(size, 30 + index % 20).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=80)
    return f"photo-{index:03d}.jpg", buffer.getvalue()


def large_pdf(path: Path, pages: int = 3) -> Path:
    """A few pages of incompressible pictures: megabytes, so expected to take a chunk alone."""
    drawing = canvas.Canvas(str(path))
    drawing.setTitle("Scans")
    for page in range(pages):
        picture = Image.effect_noise((1200, 900), 60 + page).convert("RGB")
        drawing.drawImage(ImageReader(picture), 36, 200, 520, 390)
        drawing.drawString(72, 740, f"Scan {page + 1}")
        drawing.showPage()
    drawing.save()
    return path


def test_a_chunked_batch_keeps_one_job_per_file(worker, tmp_path: Path) -> None:
    photos = [photo(n) for n in range(IMAGES)]
    pdf = large_pdf(tmp_path / "scans.pdf")
    assert batch.expected_seconds("pdf", pdf.stat().st_size) >= batch.CHUNK_BUDGET_SECONDS
    laughs = hostile.billion_laughs(tmp_path / "laughs.docx")
    uploads = [*photos[:40], (laughs.name, laughs.read_bytes()),
               (pdf.name, pdf.read_bytes()), *photos[40:]]
    batch_id = jobs.submit(
        "batch_process_files",
        {"operations": {"image": ["thumbnail"], "pdf": ["metadata"]},
         "options": {"image": {"thumbnail_size": 64}}},
        files=uploads, user=TESTER,
    )
    record = jobs.wait(batch_id, timeout=120, user=TESTER)

    assert record["state"] == "SUCCESS", record["error"]
    assert record["progress"]["message"] == "Done"
    result = record["result"]
    assert (result["succeeded"], result["failed"]) == (IMAGES + 1, 1)
    by_file = {entry["file"]: entry for entry in result["files"]}
    assert len(by_file) == IMAGES + 2
    assert "entity or DTD declarations" in by_file["laughs.docx"]["error"]
    assert set(by_file["scans.pdf"]["operations"]) == {"metadata"}

    # One child job per file, each with its own state, result and outputs.
    children = {child["id"]: child for child in jobs.children(batch_id, user=TESTER)}
    assert len(children) == IMAGES + 2
    for name, _ in photos:
        child = children[by_file[name]["job_id"]]
        assert child["state"] == "SUCCESS" and child["kind"] == "process_image", child
        assert child["parent"] == batch_id and child["owner"] == TESTER.id
        assert child["progress"]["message"] == "Done"
        stem = name.removesuffix(".jpg")
        assert [o["name"] for o in child["outputs"]] == [f"{stem}-thumb.jpg"]
        thumbnail = child["result"]["files"][0]["operations"]["thumbnail"]
        assert max(thumbnail["width"], thumbnail["height"]) == 64
        assert by_file[name]["outputs"] == [f"{name}/{stem}-thumb.jpg"]
    bad = children[by_file["laughs.docx"]["job_id"]]
    assert bad["state"] == "FAILURE" and bad["retries"] == 0 and bad["outputs"] == []
    assert "entity or DTD declarations" in bad["error"]
    assert bad["kind"] == "process_word_document"
    scans = children[by_file["scans.pdf"]["job_id"]]
    assert scans["state"] == "SUCCESS" and scans["kind"] == "process_pdf"

    # The chunking happened: far fewer Celery tasks than files, the large PDF in one alone,
    # and the bad file shared its task with images that succeeded all the same.
    chunk_of = {job_id: child["chunk"] for job_id, child in children.items()}
    sizes = Counter(chunk_of.values())
    assert 2 <= len(sizes) <= len(children) // 10, sizes
    assert chunk_of[scans["id"]] == scans["id"] and sizes[scans["id"]] == 1
    neighbours = [c for c in children.values() if c["chunk"] == bad["chunk"] and c is not bad]
    assert neighbours and all(c["state"] == "SUCCESS" for c in neighbours)
    # A carrier has no record of its own: a person sees files, never chunks.
    assert jobs.list(kind="run_file_chunk", user=ADMIN).total == 0
    assert jobs.list(kind="finish_file_batch", user=ADMIN).total == 0

    # The batch's zip holds every output once, under each file's name.
    with zipfile.ZipFile(io.BytesIO(jobs.zip_outputs(batch_id, user=TESTER))) as archive:
        names = archive.namelist()
    expected = [name for entry in result["files"] for name in entry.get("outputs", [])]
    assert len(names) == len(set(names)) == IMAGES + len(scans["outputs"])
    assert sorted(names) == sorted(expected)
    assert "photo-007.jpg/photo-007-thumb.jpg" in names


def test_cancelling_a_file_in_a_chunk_ends_only_that_file(worker) -> None:
    # Large enough that the last file of its chunk is still waiting when the cancel lands.
    uploads = [photo(n, size=(1600, 1200)) for n in range(30)]
    batch_id = jobs.submit("batch_process_files", {"operations": ["thumbnail"]}, files=uploads,
                           user=TESTER)
    children = wait_for(lambda: jobs.children(batch_id, user=TESTER), every=0.005)
    last = max(children, key=lambda c: c["params"]["files"][0]["name"])
    assert jobs.cancel(last["id"], user=TESTER)
    record = jobs.wait(batch_id, timeout=60, user=TESTER)

    assert record["state"] == "SUCCESS", record["error"]
    ended = wait_for(lambda: (lambda r: r if not jobs.stopping(r) else None)(
        jobs.get(last["id"], user=TESTER)), timeout=10)
    assert ended["state"] == "REVOKED" and ended["error"] == "Cancelled by the user."
    entry = next(e for e in record["result"]["files"] if e["job_id"] == last["id"])
    assert (entry["ok"], entry["error"]) == (False, "Cancelled by the user.")
    assert (record["result"]["succeeded"], record["result"]["failed"]) == (29, 1)
    others = [jobs.get(c["id"], user=TESTER) for c in children if c["id"] != last["id"]]
    assert all(o["state"] == "SUCCESS" for o in others)


def test_cancelling_the_batch_stops_the_files_not_yet_run(worker) -> None:
    # Larger images, so the batch is still running when the cancel lands.
    uploads = [photo(n, size=(1600, 1200)) for n in range(120)]
    batch_id = jobs.submit("batch_process_files", {"operations": ["thumbnail"]},
                           files=uploads, user=TESTER)

    def one_done() -> bool:
        return any(c["state"] == "SUCCESS" for c in jobs.children(batch_id, user=TESTER))

    wait_for(one_done, timeout=60, every=0.01)
    assert jobs.cancel(batch_id, user=TESTER)

    def settled() -> list[dict] | None:
        children = jobs.children(batch_id, user=TESTER)
        return children if all(c["state"] in ("SUCCESS", "REVOKED") for c in children) else None

    children = wait_for(settled, timeout=60, every=0.1)
    states = Counter(c["state"] for c in children)
    assert len(children) == 120 and states["SUCCESS"] >= 1 and states["REVOKED"] >= 1, states
    for child in children:
        if child["state"] == "REVOKED":
            assert child["error"] == batch.CANCELLED_WITH_BATCH
            assert child["stopped_at"] and child["outputs"] == []
            assert child["started_at"] is None
    stopped = wait_for(lambda: (lambda r: r if not jobs.stopping(r) else None)(
        jobs.get(batch_id, user=TESTER)), timeout=30)
    assert stopped["state"] == "REVOKED"
