"""Jobs through a real worker: their records, progress, cancel and retry."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from app import jobs, monitor
from app.auth import User
from app.connection import get_registry
from app.settings import QUEUES
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration


def _wait_for_state(job_id: str, states: set[str], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = jobs.get(job_id, user=ADMIN)
        if record and record["state"] in states:
            return record
        time.sleep(0.05)
    raise AssertionError(f"job never reached {states}: {jobs.get(job_id, user=ADMIN)}")


def test_submit_runs_to_success_with_a_complete_record(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 2, "step_seconds": 0.05}, user=User("ada"))
    record = jobs.wait(job_id, timeout=30, user=ADMIN)
    assert record["state"] == "SUCCESS"
    assert record["kind"] == "sample_job"
    assert record["queue"] == "maintenance"
    assert record["owner"] == "ada"
    assert record["params"] == {"steps": 2, "step_seconds": 0.05}
    assert record["result"]["steps"] == 2
    assert record["submitted_at"] <= record["started_at"] <= record["finished_at"]
    assert record["retries"] == 0 and record["attempts"] == 1
    assert record["progress"]["message"] == "Done"
    assert jobs.list(owner="ada", state="SUCCESS", user=ADMIN).jobs[0]["id"] == job_id


def test_progress_is_visible_while_the_job_runs(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 10, "step_seconds": 0.3}, user=TESTER)
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = jobs.get(job_id, user=ADMIN)
        if record["state"] == "PROGRESS":
            seen.add(record["progress"]["current"])
        if record["state"] == "SUCCESS":
            break
        time.sleep(0.05)
    assert len(seen) >= 3, f"saw progress steps {seen}"
    assert jobs.get(job_id, user=ADMIN)["state"] == "SUCCESS"


def test_cancel_a_running_job(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 50, "step_seconds": 0.2}, user=TESTER)
    _wait_for_state(job_id, {"PROGRESS"})
    assert jobs.cancel(job_id, user=ADMIN)
    time.sleep(2)
    record = jobs.get(job_id, user=ADMIN)
    assert record["state"] == "REVOKED"
    assert record["progress"]["current"] < 50
    assert record["error"] == "Cancelled by the user."
    assert not jobs.cancel(job_id, user=ADMIN)  # already finished


def test_cancel_a_queued_job_before_it_runs(worker) -> None:
    from datetime import datetime, timedelta

    eta = datetime.now(UTC) + timedelta(seconds=3)
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, eta=eta, user=TESTER)
    assert jobs.get(job_id, user=ADMIN)["state"] == "QUEUED"
    assert jobs.cancel(job_id, user=ADMIN)
    time.sleep(4.5)
    record = jobs.get(job_id, user=ADMIN)
    assert record["state"] == "REVOKED"
    assert record["started_at"] is None


def test_a_failed_job_is_a_dead_letter_and_can_be_retried(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0, "fail": True}, user=TESTER)
    failed = jobs.wait(job_id, timeout=20, user=ADMIN)
    assert failed["state"] == "FAILURE"
    assert failed["error"] == "The sample job was asked to fail."
    assert failed["retries"] == 0  # a permanent error is never retried
    assert job_id in [j["id"] for j in jobs.dead_letters(user=ADMIN).jobs]

    new_id = jobs.retry(job_id, user=ADMIN)
    again = jobs.wait(new_id, timeout=20, user=ADMIN)
    assert again["retry_of"] == job_id
    assert again["params"] == failed["params"]
    assert jobs.get(job_id, user=ADMIN)["retried_by"] == new_id
    assert job_id not in [j["id"] for j in jobs.dead_letters(user=ADMIN).jobs]


def test_unknown_kind_and_far_eta_are_refused() -> None:
    from datetime import datetime, timedelta

    with pytest.raises(jobs.UnknownKind, match="no job called 'nope'"):
        jobs.submit("nope", user=TESTER)
    with pytest.raises(ValueError, match="not safe on Redis"):
        jobs.submit("sample_job", eta=datetime.now(UTC) + timedelta(days=2), user=TESTER)


def test_ping_round_trip_on_every_queue(worker) -> None:
    for queue in QUEUES:
        pong = monitor.ping(queue, timeout=15, user=TESTER)
        assert pong["ok"], pong
        assert pong["worker"] == worker.hostname
        assert jobs.get(pong["job_id"], user=ADMIN)["queue"] == queue


def test_worker_heartbeat_describes_the_worker(worker) -> None:
    (found,) = [w for w in monitor.workers() if w.hostname == worker.hostname]
    assert found.online
    assert set(found.queues) == set(QUEUES)
    assert found.pool == "prefork" and found.concurrency == 2
    assert monitor.queues_without_workers() == []


def test_a_job_reads_only_files_of_its_owners_jobs(worker) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, "PNG")
    first = jobs.submit("process_image", {"operations": ["info"]},
                        files=[("red.png", buffer.getvalue())], user=User("ada"))
    assert jobs.wait(first, 60, user=ADMIN)["state"] == "SUCCESS"
    ada_ref = jobs.get(first, user=ADMIN)["params"]["files"][0]
    (full_ref,) = get_registry().kwargs(first)["files"]

    theirs = jobs.submit("process_image", {"operations": ["info"], "files": [full_ref]},
                         user=User("eve"))
    refused = jobs.wait(theirs, 60, user=ADMIN)
    assert refused["state"] == "FAILURE"
    assert refused["error"] == "red.png is not a file of one of your jobs."

    again = jobs.submit("process_image", {"operations": ["info"], "files": [full_ref]},
                        user=User("ada"))
    assert jobs.wait(again, 60, user=ADMIN)["state"] == "SUCCESS"
    assert ada_ref["name"] == "red.png"


def test_an_expected_failure_is_logged_as_its_sentence_not_as_a_fault(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0, "fail": True}, user=TESTER)
    assert jobs.wait(job_id, timeout=20, user=ADMIN)["state"] == "FAILURE"
    sentence = "The sample job was asked to fail."

    def lines() -> list[str]:
        return [line for line in worker.log().splitlines() if job_id in line]

    deadline = time.monotonic() + 10  # the worker logs the outcome just after recording it
    while not any(sentence in line for line in lines()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(sentence in line for line in lines()), lines()
    assert not any("ERROR" in line or "raised unexpected" in line for line in lines()), lines()
