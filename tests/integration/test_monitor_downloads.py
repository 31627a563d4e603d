"""The Task Monitor's detail view builds no zip and inflates no archive member to draw."""

from __future__ import annotations

import time
import uuid
import zipfile
from pathlib import Path

import pytest

from app import jobs, maintenance, storage
from app.connection import get_registry
from tests.support.pages import page_test
from tests.support.users import ADMIN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DAY = 86400


def _job_with_outputs(age_days: float = 0) -> str:
    """A finished job of ada's with two outputs, its record listing them with their types."""
    job_id = f"z-{uuid.uuid4().hex[:12]}"
    submitted = time.time() - age_days * DAY
    registry = get_registry()
    registry.create(job_id, kind="sample_job", name="app.tasks.diagnostics.sample_job",
                    queue="maintenance", owner="ada", submitted_at=submitted)
    storage.output_path(job_id, "a.txt").write_text("first")
    storage.output_path(job_id, "b.csv").write_text("n\n1\n")
    registry.transition(job_id, "SUCCESS", finished_at=submitted + 1,
                        outputs=storage.list_outputs(job_id))
    return job_id


class Counter:
    """Counts calls of a function it stands in for (and calls it through)."""

    def __init__(self, original) -> None:
        self.original, self.calls = original, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


def _monitor_detail(job_id: str):
    at = page_test(str(ROOT / "pages/task_monitor.py"), user=ADMIN)
    at.session_state["detail_id"] = job_id
    return at.run()


def test_the_detail_view_does_not_build_the_zip(monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = _job_with_outputs()
    zips = Counter(jobs.zip_outputs)
    reads = Counter(jobs.output_bytes)
    monkeypatch.setattr(jobs, "zip_outputs", zips)
    monkeypatch.setattr(jobs, "output_bytes", reads)
    at = _monitor_detail(job_id)
    assert not at.exception, at.exception
    labels = [b.label for b in at.get("download_button")]
    assert "⬇ All outputs (.zip)" in labels and len(labels) == 3
    at.run()  # the fragment's refresh draws it again
    assert zips.calls == 0 and reads.calls == 0


def test_an_archived_job_is_listed_without_inflating_its_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = _job_with_outputs(age_days=10)
    maintenance.archive_old_files(older_than_days=7)
    assert get_registry().get(job_id)["archive"] and not storage.job_dir(job_id).exists()
    reads = Counter(zipfile.ZipFile.read)
    opens = Counter(zipfile.ZipFile.open)
    monkeypatch.setattr(zipfile.ZipFile, "read", reads)
    monkeypatch.setattr(zipfile.ZipFile, "open", opens)
    recorded = {o["name"]: o["type"] for o in get_registry().get(job_id)["outputs"]}
    listed = {o["name"]: o["type"] for o in jobs.outputs(job_id, user=ADMIN)}
    assert listed == recorded and set(listed) == {"a.txt", "b.csv"}
    at = _monitor_detail(job_id)
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 3
    assert reads.calls == 0 and opens.calls == 0


def test_an_output_the_record_does_not_cover_is_sniffed_from_its_first_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = storage.root() / "archive" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{uuid.uuid4().hex}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("out/big.csv", "n,v\n" + "1,2\n" * 2_000_000)  # 8 MB inflated
    reads = Counter(zipfile.ZipFile.read)
    monkeypatch.setattr(zipfile.ZipFile, "read", reads)
    [listed] = storage.archived_outputs(storage.relative(archive))
    assert listed["type"] in ("csv", "text") and listed["size"] == 8_000_004
    assert reads.calls == 0  # whole-member reads: none
