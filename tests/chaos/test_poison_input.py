"""Fault: an input that kills its worker process every time (a crash in a C library, or out
of memory), and one that allocates past the memory limit.

Pass: the crashing job is not redelivered forever: after WORKER_LOSS_LIMIT (3) deaths it ends
FAILURE with a sentence and is a dead letter, and the worker keeps serving other jobs. An
allocation past a files worker's address-space limit fails the job with that limit as the
reason, and the worker stays up.
"""

from __future__ import annotations

import pytest

from app import jobs
from app.auth import SYSTEM
from tests.chaos.stack import wait_for
from tests.support.processes import start_worker
from tests.support.users import ADMIN
from tests.unit.office import samples

pytestmark = pytest.mark.integration

CRASHES_ALLOWED = {"DIAGNOSTICS_CRASH_ENABLED": "1"}


def _finished(job_id: str) -> dict | None:
    record = jobs.get(job_id, user=ADMIN)
    return record if record["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None


def test_a_file_that_kills_its_worker_is_set_aside_after_three_deaths(log_dir) -> None:
    worker = start_worker(log_dir, queues=["maintenance"], concurrency=1, env=CRASHES_ALLOWED)
    try:
        job_id = jobs.submit("crash_worker", {"how": "exit"},
                             files=[("poison.png", samples.png_bytes())], user=SYSTEM)
        record = wait_for(lambda: _finished(job_id), timeout=120, what="the poison job ended")
        after = jobs.wait(jobs.submit("ping", user=ADMIN), timeout=30, user=ADMIN)
        assert worker.alive()
    finally:
        worker.stop()
    assert record["state"] == "FAILURE"
    assert record["error"] == "This file made the worker stop 3 times; it was set aside."
    assert record["attempts"] == 4 and record["lost"] == 3
    assert job_id in [j["id"] for j in jobs.dead_letters(user=ADMIN, limit=500).jobs]
    assert after["state"] == "SUCCESS"


def test_an_allocation_past_the_memory_limit_fails_with_the_limit_as_reason(log_dir) -> None:
    # A files worker (so its children get the limit) that also reads the diagnostics queue.
    env = {**CRASHES_ALLOWED, "CHILD_ADDRESS_SPACE_MB": "1500"}
    worker = start_worker(log_dir, queues=["files", "maintenance"], concurrency=1, env=env)
    try:
        job_id = jobs.submit("crash_worker", {"how": "allocate", "megabytes": 3000},
                             user=SYSTEM)
        record = jobs.wait(job_id, timeout=60, user=ADMIN)
        after = jobs.wait(jobs.submit("ping", user=ADMIN), timeout=30, user=ADMIN)
        assert worker.alive()
    finally:
        worker.stop()
    assert record["state"] == "FAILURE"
    assert record["error"] == (
        "The job needed more memory than its worker process may use and was stopped."
        " Each worker process may use at most 1,500 MB of memory."
    )
    assert record["attempts"] == 1  # bad input: failed at once, never retried
    assert after["state"] == "SUCCESS"


def test_the_crash_fixture_refuses_to_run_unless_turned_on(worker) -> None:
    record = jobs.wait(jobs.submit("crash_worker", {"how": "exit"}, user=SYSTEM), timeout=30,
                       user=ADMIN)
    assert record["state"] == "FAILURE"
    assert record["error"] == "Crash diagnostics are turned off on this worker."
