"""Fault: a job left STARTED by a worker that vanished, whose message is gone too (the worker
died and Redis lost the unacknowledged copy, or someone flushed it).

Pass: maintenance, run as beat runs it on a real maintenance worker, ends that job as FAILURE
with a sentence and makes it a dead letter; a job running on a live worker is left alone.
"""

from __future__ import annotations

import time

import pytest

from app import jobs, maintenance
from app.auth import SYSTEM
from app.connection import get_redis
from tests.chaos.stack import drop_messages, wait_for
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration

GRACE = 4.0  # seconds without a heartbeat or a progress report before a job is an orphan


def _running(job_id: str) -> bool:
    return jobs.get(job_id, user=ADMIN)["state"] in ("STARTED", "PROGRESS")


def _lose_message(job_id: str) -> None:
    """Drop the unacknowledged copy kombu keeps, as a Redis that lost it would have."""
    client = get_redis()
    for tag, message in list(client.hscan_iter("unacked")):
        if job_id in message:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def test_a_job_whose_worker_and_message_vanished_is_ended(log_dir) -> None:
    doomed = start_worker(log_dir, queues=["maintenance"], concurrency=1)
    orphan = jobs.submit("sample_job", {"steps": 200, "step_seconds": 0.25}, user=TESTER)
    wait_for(lambda: _running(orphan), what="the job started")
    doomed.kill()
    _lose_message(orphan)

    live = start_worker(log_dir, queues=["maintenance"], concurrency=2)
    try:
        busy = jobs.submit("sample_job", {"steps": 60, "step_seconds": 0.25}, user=TESTER)
        wait_for(lambda: _running(busy), what="the live job started")
        time.sleep(GRACE + 1)  # the dead worker's heartbeat and the orphan's last report age
        sweep = jobs.wait(jobs.submit("end_orphaned_jobs", {"grace": GRACE}, user=SYSTEM),
                          timeout=30, user=ADMIN)
        busy_state = jobs.get(busy, user=ADMIN)["state"]
        busy_end = jobs.wait(busy, timeout=60, user=ADMIN)["state"]
    finally:
        live.stop()

    assert sweep["state"] == "SUCCESS" and sweep["result"]["orphans_ended"] >= 1
    record = jobs.get(orphan, user=ADMIN)
    assert record["state"] == "FAILURE"
    assert record["error"] == maintenance.ORPHAN_ERROR
    assert orphan in [j["id"] for j in jobs.dead_letters(user=ADMIN, limit=500).jobs]
    assert busy_state in ("STARTED", "PROGRESS")  # a live worker's job is not an orphan
    assert busy_end == "SUCCESS"


def test_a_job_whose_message_is_still_held_is_not_an_orphan(log_dir) -> None:
    doomed = start_worker(log_dir, queues=["maintenance"], concurrency=1)
    job_id = jobs.submit("sample_job", {"steps": 200, "step_seconds": 0.25}, user=TESTER)
    wait_for(lambda: _running(job_id), what="the job started")
    doomed.kill()  # its message stays unacknowledged: Redis hands it out again in time
    time.sleep(GRACE + 1)
    try:
        maintenance.end_orphaned_jobs(grace=GRACE)
        assert _running(job_id)
    finally:
        jobs.cancel(job_id, user=ADMIN)
        drop_messages("maintenance", [job_id])
