"""Nothing lost, nothing done twice: killed workers, cancelled jobs, priority queues.

These tests start and kill their own workers, so no other worker runs during this module.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from app import jobs, monitor
from app.connection import get_redis
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration


def _wait_for(predicate, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def _started(job_id: str) -> bool:
    return jobs.get(job_id, user=ADMIN)["state"] in ("STARTED", "PROGRESS")


def _logged_success(job_id: str, *workers) -> int:
    """How many times the workers logged the job's success, once their logs have caught up."""
    line = f"Task app.tasks.diagnostics.sample_job[{job_id}] succeeded"
    _wait_for(lambda: any(line in w.log() for w in workers), timeout=15)
    return sum(w.log().count(line) for w in workers)


def _pool_children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(p) for p in handle.read().split()]


def test_queue_length_counts_every_priority(redis_client) -> None:
    ids = [jobs.submit("sample_job", {"steps": 1}, priority=p % 10, user=TESTER) for p in range(23)]
    lengths = monitor.queue_lengths()
    assert lengths["maintenance"] == 23
    assert redis_client.llen("maintenance") < 23  # the naive count is wrong
    stats = monitor.queue_stats()["maintenance"]
    assert sum(stats.by_priority.values()) == 23 and len(stats.by_priority) == 10
    assert monitor.purge("maintenance", user=ADMIN) == 23
    assert monitor.queue_lengths()["maintenance"] == 0
    assert {jobs.get(i, user=ADMIN)["state"] for i in ids} == {"REVOKED"}


def test_urgent_jobs_run_first(log_dir) -> None:
    slow = [jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, priority=9, user=TESTER)
            for _ in range(3)]
    urgent = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, priority=0, user=TESTER)
    worker = start_worker(log_dir, queues=["maintenance"], concurrency=1)
    try:
        records = [jobs.wait(j, 30, user=ADMIN) for j in [*slow, urgent]]
    finally:
        worker.stop()
    assert records[-1]["started_at"] < min(r["started_at"] for r in records[:-1])


def test_cancelled_queued_job_stays_cancelled_when_a_worker_starts_later(log_dir) -> None:
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=TESTER)
    other = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=TESTER)
    assert jobs.cancel(job_id, user=ADMIN)  # no worker is running: only the registry knows
    worker = start_worker(log_dir, queues=["maintenance"], concurrency=1)
    try:
        jobs.wait(other, timeout=30, user=ADMIN)
        _wait_for(lambda: monitor.queue_lengths()["maintenance"] == 0)
        time.sleep(0.5)
    finally:
        worker.stop()
    record = jobs.get(job_id, user=ADMIN)
    assert record["state"] == "REVOKED" and record["started_at"] is None


def test_killed_pool_process_is_redelivered_and_completes_once(log_dir) -> None:
    worker = start_worker(log_dir, queues=["maintenance"], concurrency=1)
    try:
        job_id = jobs.submit("sample_job", {"steps": 8, "step_seconds": 0.25}, user=TESTER)
        _wait_for(lambda: _started(job_id))
        for child in _pool_children(worker.process.pid):
            os.kill(child, signal.SIGKILL)
        record = jobs.wait(job_id, timeout=60, user=ADMIN)
        successes = _logged_success(job_id, worker)
    finally:
        worker.stop()
    assert record["state"] == "SUCCESS"
    assert record["attempts"] == 2
    assert record["lost"] == 1  # one delivery died with its process: counted, not yet set aside
    assert successes == 1


def test_worker_killed_with_sigkill_mid_task_redelivers_and_completes_once(log_dir) -> None:
    short = {"VISIBILITY_TIMEOUT": "10"}
    first = start_worker(log_dir, queues=["maintenance"], concurrency=1, env=short)
    job_id = jobs.submit("sample_job", {"steps": 8, "step_seconds": 0.25}, user=TESTER)
    _wait_for(lambda: _started(job_id))
    first.kill()  # the whole worker, main process and pool, as a crash or the OOM killer would
    assert jobs.get(job_id, user=ADMIN)["state"] in ("STARTED", "PROGRESS")
    assert get_redis().hlen("unacked") >= 1  # kombu still holds the message

    second = start_worker(log_dir, queues=["maintenance"], concurrency=1, env=short)
    try:
        record = jobs.wait(job_id, timeout=60, user=ADMIN)
        successes = _logged_success(job_id, first, second)
    finally:
        second.stop()
    assert record["state"] == "SUCCESS"
    assert record["attempts"] == 2
    assert record["worker"] == second.hostname
    assert record["lost"] == 1
    assert successes == 1
