"""Fault: the files worker is SIGKILLed in the middle of a chunk of a batch, then replaced.

Pass: the chunk comes back (late acks) and every file of the batch ends SUCCESS exactly once,
with one run's outputs: the files done before the kill are skipped, the one running when the
worker died starts again from an empty output folder, no file gets a second record, and the
batch zip holds each output once.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from app import jobs
from app.connection import get_registry
from tests.chaos.stack import running, wait_for
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration

FILES = 120
FAST_REDELIVERY = {"VISIBILITY_TIMEOUT": "10"}


def _photo(index: int) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.effect_noise((1600, 1200), 30 + index % 20).convert("RGB").save(buffer, "JPEG")
    return f"photo-{index:03d}.jpg", buffer.getvalue()


def _children(batch_id: str) -> list[dict]:
    return get_registry().children(batch_id)


def _success_lines(job_id: str, workers) -> int:
    line = f"Task app.tasks.file_tasks.process_image[{job_id}] succeeded"
    return sum(worker.log().count(line) for worker in workers)


def test_a_killed_chunk_runs_again_and_doubles_nothing(log_dir) -> None:
    victim = start_worker(log_dir, queues=["files"], concurrency=2, env=FAST_REDELIVERY)
    workers = [victim]
    try:
        batch_id = jobs.submit("batch_process_files", {"operations": ["thumbnail"]},
                               files=[_photo(n) for n in range(FILES)], user=TESTER)

        def mid_chunk() -> bool:
            children = _children(batch_id)
            done = sum(child["state"] == "SUCCESS" for child in children)
            return done >= 10 and bool(running([child["id"] for child in children]))

        wait_for(mid_chunk, timeout=120, every=0.005, what="a chunk half done")
        victim.kill()
        workers.append(start_worker(log_dir, queues=["files"], concurrency=2,
                                    env=FAST_REDELIVERY))
        record = jobs.wait(batch_id, timeout=180, user=TESTER)
    finally:
        for worker in workers:
            worker.stop()

    assert record["state"] == "SUCCESS", record["error"]
    assert (record["result"]["succeeded"], record["result"]["failed"]) == (FILES, 0)
    children = _children(batch_id)
    assert len(children) == FILES  # the rerun made no second record
    assert [c for c in children if c["attempts"] > 1], "the kill hit no running file"
    for child in children:
        assert child["state"] == "SUCCESS"
        names = [output["name"] for output in child["outputs"]]
        assert len(names) == 1 and names[0].endswith("-thumb.jpg") and "(2)" not in names[0]
        assert _success_lines(child["id"], workers) == 1
    with zipfile.ZipFile(io.BytesIO(jobs.zip_outputs(batch_id, user=ADMIN))) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names)) == FILES
