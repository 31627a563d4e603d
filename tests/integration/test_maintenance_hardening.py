"""Archiving keeps what scheduled emails still need; retention removes archives too."""

from __future__ import annotations

import time
import uuid

import pytest

from app import maintenance, storage
from app.connection import get_registry
from app.mail.store import DISPATCHING, ScheduledEmail, ScheduleStore

pytestmark = pytest.mark.integration
DAY = 86400


def _finished_job(age_days: float, now: float) -> tuple[str, dict]:
    """A finished job of `age_days` with one output; returns its id and the output's ref."""
    job_id = f"h-{uuid.uuid4().hex[:12]}"
    submitted = now - age_days * DAY
    get_registry().create(job_id, kind="sample_job", name="app.tasks.diagnostics.sample_job",
                          queue="maintenance", owner="ada", submitted_at=submitted)
    path = storage.output_path(job_id, "contract.pdf")
    path.write_bytes(b"%PDF-1.4 contract")
    get_registry().transition(job_id, "SUCCESS", finished_at=submitted + 1)
    return job_id, {"path": storage.relative(path), "name": "contract.pdf", "job_id": job_id}


def _schedule_with(ref: dict, due_at: float) -> ScheduledEmail:
    return ScheduleStore().add(ScheduledEmail(
        id=f"s-{uuid.uuid4().hex[:12]}", owner="ada", due_at=due_at, timezone="UTC",
        subject="Contract", recipients="bo@example.com",
        params={"to": "bo@example.com", "subject": "Contract", "attachments": [ref]},
    ))


def test_a_folder_a_scheduled_email_attaches_from_is_not_archived() -> None:
    now = time.time()
    needed, ref = _finished_job(age_days=10, now=now)
    other, _ = _finished_job(age_days=10, now=now)
    entry = _schedule_with(ref, due_at=now + 365 * DAY)

    maintenance.archive_old_files(now=now, older_than_days=7)

    assert storage.resolve(ref).read_bytes() == b"%PDF-1.4 contract"
    assert not storage.job_dir(other).exists()  # the same age, needed by nothing: archived

    # While it is being dispatched the folder is still needed; once sent, it is archived.
    store = ScheduleStore()
    # (set directly: claiming a year ahead would claim other tests' schedules too)
    store.redis.hset(store.entry_key(entry.id), "state", DISPATCHING)
    maintenance.archive_old_files(now=now, older_than_days=7)
    assert storage.resolve(ref).is_file()
    assert store.mark_dispatched(entry.id, "send-job")
    maintenance.archive_old_files(now=now + DAY, older_than_days=7)
    assert not storage.job_dir(needed).exists()
    assert get_registry().get(needed)["archive"]


def test_a_cancelled_schedule_no_longer_protects_its_folder() -> None:
    now = time.time()
    job_id, ref = _finished_job(age_days=10, now=now)
    entry = _schedule_with(ref, due_at=now + 30 * DAY)
    assert job_id in maintenance.folders_pending_emails_need()
    assert ScheduleStore().cancel(entry.id) == "cancelled"
    assert job_id not in maintenance.folders_pending_emails_need()


def test_retention_deletes_the_archives_of_jobs_past_it() -> None:
    now = time.time()
    old, _ = _finished_job(age_days=45, now=now)
    recent, _ = _finished_job(age_days=10, now=now)
    maintenance.archive_old_files(now=now, older_than_days=7)
    old_zip = storage.root() / get_registry().get(old)["archive"]
    recent_zip = storage.root() / get_registry().get(recent)["archive"]
    assert old_zip.is_file() and recent_zip.is_file()

    result = maintenance.cleanup_old_results(now=now, retention_days=30)

    assert not old_zip.exists()
    assert recent_zip.is_file()
    assert result["archives_removed"] >= 1
    assert get_registry().get(old) is None
