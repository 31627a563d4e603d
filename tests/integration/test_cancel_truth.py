"""A cancel says "Cancelling…" until the worker confirms the job stopped, on every pool."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import jobs
from tests.support.pages import page_test
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def thread_worker(session_dir: Path):
    """A thread-pool worker: it cannot kill a job, so the job must stop by itself."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    proc = start_worker(logs, queues=("maintenance",), pool="threads", concurrency=2)
    yield proc
    proc.stop()


def _until(job_id: str, check, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = jobs.get(job_id, user=TESTER)
        if check(record):
            return record
        time.sleep(0.05)
    raise AssertionError(f"never happened: {jobs.get(job_id, user=TESTER)}")


def _monitor_state(job_id: str) -> str:
    at = page_test(str(ROOT / "pages/task_monitor.py"), user=ADMIN)
    at.session_state["detail_id"] = job_id
    at.run()
    assert not at.exception, at.exception
    return " ".join(m.value for m in at.info) + " " + " ".join(
        str(p.proto.text) for p in at.get("progress")
    )


def test_a_thread_pool_job_is_cancelling_until_its_next_step_then_stopped(thread_worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 20, "step_seconds": 2.0}, user=TESTER)
    _until(job_id, lambda r: r["state"] == "PROGRESS")
    assert jobs.cancel(job_id, user=TESTER)

    record = jobs.get(job_id, user=TESTER)
    assert record["state"] == "REVOKED" and jobs.stopping(record)
    assert "Cancelling" in _monitor_state(job_id)

    stopped = _until(job_id, lambda r: not jobs.stopping(r), timeout=10)
    assert stopped["stopped_at"] >= stopped["cancel_requested_at"]
    step = stopped["progress"]["current"]
    time.sleep(2.5)  # a job still running would report its next step by now
    assert jobs.get(job_id, user=TESTER)["progress"]["current"] == step
    assert "Cancelling" not in _monitor_state(job_id)


def test_a_prefork_job_is_confirmed_stopped_by_its_worker(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 50, "step_seconds": 0.2}, user=TESTER)
    _until(job_id, lambda r: r["state"] == "PROGRESS")
    assert jobs.cancel(job_id, user=TESTER)
    stopped = _until(job_id, lambda r: not jobs.stopping(r), timeout=10)
    assert stopped["state"] == "REVOKED"
    assert stopped["stopped_at"] >= stopped["cancel_requested_at"]


def test_a_queued_job_is_stopped_at_once_because_nothing_runs_it(worker) -> None:
    eta = datetime.now(UTC) + timedelta(seconds=30)
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, eta=eta, user=TESTER)
    assert jobs.cancel(job_id, user=TESTER)
    record = jobs.get(job_id, user=TESTER)
    assert record["state"] == "REVOKED" and not jobs.stopping(record)
    assert record["started_at"] is None
