"""`jobs.submit_many`: a batch of jobs submitted at once behaves as that many `jobs.submit` calls.

Against the real Redis and a real worker: every job has its own record owned by the person who
submitted it, runs and reports progress, can be cancelled alone, stays invisible to anyone
else; and the quotas count the batch whole, so a batch that does not fit submits nothing.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import audit, jobs, quotas
from app.auth import User
from tests.support.processes import Proc
from tests.support.users import ADMIN

pytestmark = pytest.mark.integration


def person(name: str) -> User:
    return User(f"{name}-{uuid.uuid4().hex[:8]}@example.com", name.title())


def quick(steps: int = 1) -> jobs.Submission:
    return jobs.Submission("sample_job", {"steps": steps, "step_seconds": 0})


def same_minute(seconds_needed: float = 5) -> None:
    """Wait for a fresh minute when this one ends too soon: a quota window is a minute."""
    if time.time() % 60 > 60 - seconds_needed:
        time.sleep(61 - time.time() % 60)


def test_every_job_gets_its_own_record_owned_by_the_submitter_and_runs(worker: Proc) -> None:
    ann = person("ann")
    ids = jobs.submit_many(
        [*(quick(steps) for steps in (1, 2, 3)),
         jobs.Submission("process_pdf", {"operations": ["info"]},
                         files=[("notes.txt", b"not a pdf")])],
        user=ann,
    )
    assert len(set(ids)) == 4
    records = [jobs.wait(job_id, 60, user=ann) for job_id in ids]
    assert [r["owner"] for r in records] == [ann.id] * 4
    assert [r["kind"] for r in records] == ["sample_job"] * 3 + ["process_pdf"]
    assert [r["state"] for r in records[:3]] == ["SUCCESS"] * 3
    # Each job reported its own progress, to its own number of steps.
    assert [r["progress"]["total"] for r in records[:3]] == [1, 2, 3]
    # The file job read its own upload, and failed alone with a sentence.
    assert records[3]["state"] == "FAILURE" and records[3]["error"]
    assert records[3]["params"]["files"][0]["name"] == "notes.txt"
    assert sorted(j["id"] for j in jobs.list(user=ann).jobs) == sorted(ids)
    entries = audit.search(actor=ann.id, action="job.submit", user=ADMIN).entries
    assert {e.target for e in entries} == set(ids)


def test_another_person_cannot_see_or_touch_them(worker: Proc) -> None:
    ann, bob = person("ann"), person("bob")
    ids = jobs.submit_many([quick(), quick()], user=ann)
    for job_id in ids:
        assert jobs.wait(job_id, 30, user=ann)["state"] == "SUCCESS"
        assert jobs.get(job_id, user=bob) is None
        assert not jobs.cancel(job_id, user=bob)
        with pytest.raises(LookupError):
            jobs.wait(job_id, 1, user=bob)
        assert jobs.get(job_id, user=ADMIN)["owner"] == ann.id
    assert jobs.list(user=bob).total == 0


def test_one_job_of_a_batch_can_be_cancelled_alone(worker: Proc) -> None:
    ann = person("ann")
    soon = datetime.now(UTC) + timedelta(seconds=3)
    kept, cancelled = jobs.submit_many(
        [jobs.Submission("sample_job", {"steps": 1, "step_seconds": 0}, eta=soon)] * 2, user=ann
    )
    assert jobs.cancel(cancelled, user=ann)
    assert jobs.wait(kept, 30, user=ann)["state"] == "SUCCESS"
    time.sleep(1)  # the cancelled job's message came due too, and was skipped
    assert jobs.get(cancelled, user=ann)["state"] == "REVOKED"


def test_a_batch_over_the_jobs_per_minute_quota_submits_nothing(worker: Proc) -> None:
    ann = person("ann")
    quotas.set_override(ann.id, "jobs_per_minute", 3, by=ADMIN)
    same_minute()
    with pytest.raises(quotas.QuotaExceeded) as refused:
        jobs.submit_many([quick() for _ in range(4)], user=ann)
    assert str(refused.value).startswith("You can submit 3 jobs a minute and have 3 left")
    assert "these 4 jobs were not submitted" in str(refused.value)
    assert jobs.list(user=ann).total == 0
    # The refusal used none of the minute: three fit, and then a fourth is refused alone.
    ids = jobs.submit_many([quick() for _ in range(3)], user=ann)
    assert jobs.list(user=ann).total == 3
    with pytest.raises(quotas.QuotaExceeded, match="have reached that"):
        jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=ann)
    assert all(jobs.wait(j, 30, user=ann)["state"] == "SUCCESS" for j in ids)


def test_a_batch_over_the_email_quota_submits_nothing(worker: Proc) -> None:
    ann = person("ann")
    quotas.set_override(ann.id, "emails_per_day", 2, by=ADMIN)
    mail = {"to": "x@example.com", "subject": "s", "text": "t"}
    with pytest.raises(quotas.QuotaExceeded, match="You can send 2 emails a day"):
        jobs.submit_many([jobs.Submission("send_email", mail)] * 3 + [quick()], user=ann)
    assert jobs.list(user=ann).total == 0


def test_an_unknown_kind_refuses_the_whole_batch(worker: Proc) -> None:
    ann = person("ann")
    with pytest.raises(jobs.UnknownKind, match="There is no job called 'nonsense'"):
        jobs.submit_many([quick(), jobs.Submission("nonsense")], user=ann)
    with pytest.raises(ValueError, match="Priority"):
        jobs.submit_many([quick(), jobs.Submission("sample_job", priority=12)], user=ann)
    assert jobs.list(user=ann).total == 0
    assert jobs.submit_many([], user=ann) == []
