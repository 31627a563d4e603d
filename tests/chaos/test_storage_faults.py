"""Fault: the storage a job writes its results to is full, or is not a folder at all.

The full disk is real: a tmpfs with no free inode mounted on the job's output folder (the
suite runs as root). Where mounting is not allowed, a plain file sits where the folder should
be, which the worker cannot write into either.
Pass: the job ends FAILURE with a sentence and becomes a dead letter, never a retry loop, and
the same worker goes on to run the next job.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app import jobs, storage
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER
from tests.unit.office import samples

pytestmark = pytest.mark.integration


@contextmanager
def full_folder(folder: Path) -> Iterator[str]:
    """`folder` on a filesystem that has no room for one more file; yields how it was made."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=1", "tmpfs", str(folder)],
        capture_output=True,
    ).returncode == 0
    if not mounted:
        folder.rmdir()
        folder.write_bytes(b"")  # a file where the output folder should be
    try:
        yield "No space left on device" if mounted else "File exists"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def _thumbnail(job_id: str | None = None) -> str:
    return jobs.submit("process_image", {"operations": ["thumbnail"]}, job_id=job_id,
                       files=[("photo.png", samples.png_bytes())], user=TESTER)


def test_a_job_whose_storage_is_full_fails_with_a_sentence_and_the_worker_stays_up(
    log_dir,
) -> None:
    worker = start_worker(log_dir, queues=["files"], concurrency=1)
    job_id = jobs.new_job_id()
    try:
        with full_folder(storage.outputs_dir(job_id)) as reason:
            record = jobs.wait(_thumbnail(job_id), timeout=60, user=ADMIN)
        after = jobs.wait(_thumbnail(), timeout=60, user=ADMIN)
        assert worker.alive()
    finally:
        worker.stop()
    assert record["state"] == "FAILURE"
    assert record["error"] == (
        f"Nexus could not write this job's results to its storage ({reason}); the job was "
        "stopped. Ask an administrator to free space or fix the storage folder."
    )
    assert record["attempts"] == 1 and record["retries"] == 0
    assert job_id in [j["id"] for j in jobs.dead_letters(user=ADMIN, limit=500).jobs]
    assert after["state"] == "SUCCESS" and after["outputs"]
