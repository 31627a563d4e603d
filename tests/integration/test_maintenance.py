"""Maintenance on real files and records, with the clock moved by the test."""

from __future__ import annotations

import os
import time
import uuid
import zipfile

import pytest

from app import jobs, maintenance, monitor, storage
from app.auth import SYSTEM
from app.connection import get_registry
from app.settings import QUEUES
from tests.support.object_store import BOTH_STORES
from tests.support.users import ADMIN

pytestmark = [pytest.mark.integration, *BOTH_STORES]
DAY = 86400


def _finished_job(state: str = "SUCCESS", age_days: float = 0, outputs: int = 1) -> str:
    job_id = f"m-{uuid.uuid4().hex[:12]}"
    submitted = time.time() - age_days * DAY
    get_registry().create(job_id, kind="sample_job", name="app.tasks.diagnostics.sample_job",
                          queue="maintenance", owner="ada", submitted_at=submitted)
    storage.save_upload(job_id, "input.txt", b"in")
    with storage.scratch(job_id):  # as a task writes them: to the store when it ends
        for i in range(outputs):
            storage.output_path(job_id, "report.txt").write_text(f"output {i}")
    get_registry().transition(job_id, state, finished_at=submitted + 1)
    if state == "FAILURE":
        get_registry().add_dead_letter(job_id, when=submitted + 1)
    return job_id


def test_retention_removes_old_jobs_from_registry_and_storage() -> None:
    old = _finished_job(age_days=40)
    fresh = _finished_job(age_days=1)
    result = maintenance.cleanup_old_results(retention_days=30)
    assert result["jobs_removed"] >= 1
    assert jobs.get(old, user=ADMIN) is None and not storage.has_files(old)
    assert jobs.get(fresh, user=ADMIN) is not None and storage.has_files(fresh)


def test_failed_jobs_leave_the_dead_letters_after_the_retention() -> None:
    old = _finished_job("FAILURE", age_days=40)
    recent = _finished_job("FAILURE", age_days=2)
    maintenance.cleanup_failed_tasks(retention_days=30)
    dead = [j["id"] for j in jobs.dead_letters(limit=500, user=ADMIN).jobs]
    assert old not in dead and recent in dead
    assert jobs.get(old, user=ADMIN) is None


def test_temp_files_older_than_an_hour_go(tmp_path) -> None:
    old = storage.temp_dir() / "old.part"
    new = storage.temp_dir() / "new.part"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    result = maintenance.cleanup_temp_files()
    assert not old.exists() and new.exists()
    assert result["removed"] >= 1


def test_archive_moves_old_folders_into_dated_zips_without_losing_a_file(tmp_path) -> None:
    old = _finished_job(age_days=10, outputs=3)
    before = sorted(b.key.removeprefix(f"jobs/{old}/") for b in storage.job_files(old))
    # A folder already archived under the same name must not be overwritten.
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * DAY))
    clash = f"archive/{day}/{old}.zip"
    (tmp_path / "clash.zip").write_bytes(b"someone else's archive")
    storage.store().put(clash, tmp_path / "clash.zip", "zip")

    result = maintenance.archive_old_files(older_than_days=7)

    assert result["archived"] >= 1
    assert not storage.has_files(old)
    assert storage.read_bytes(clash) == b"someone else's archive"
    archive = storage.resolve(jobs.get(old, user=ADMIN)["archive"])
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == before
    assert sorted(o["name"] for o in jobs.outputs(old, user=ADMIN)) == [
        "report (2).txt", "report (3).txt", "report.txt"
    ]
    assert jobs.output_bytes(old, "report.txt", user=ADMIN) == b"output 0"


def test_queue_samples_are_kept_for_the_chart_and_expire() -> None:
    now = time.time()
    monitor.record_sample(now=now - 3 * DAY, keep_days=30)
    monitor.record_sample(now=now - 120, keep_days=30)
    assert len(monitor.history(3600, now=now)) >= 1
    assert any(s["t"] == now - 3 * DAY for s in monitor.history(4 * DAY, now=now))
    monitor.record_sample(now=now, keep_days=1)
    assert not any(s["t"] == now - 3 * DAY for s in monitor.history(4 * DAY, now=now))


def test_maintenance_tasks_run_on_the_maintenance_queue(worker) -> None:
    health = jobs.wait(jobs.submit("health_check", user=SYSTEM), 30, user=ADMIN)
    assert health["state"] == "SUCCESS" and health["queue"] == "maintenance"
    assert monitor.last_health()["problems"] == []
    sample = jobs.wait(jobs.submit("monitor_queue_sizes", user=SYSTEM), 30, user=ADMIN)
    assert set(sample["result"]) == set(QUEUES)  # every queue, ocr included


def test_beat_schedule_lists_every_maintenance_task() -> None:
    names = {entry["task"].rsplit(".", 1)[-1] for entry in monitor.beat_schedule()}
    assert {"cleanup_temp_files", "cleanup_old_results", "health_check", "monitor_queue_sizes",
            "cleanup_failed_tasks", "archive_old_files"} <= names
