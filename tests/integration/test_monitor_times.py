"""The beat tab says schedules in words and when they next run, never a time in the past."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab
from redbeat import RedBeatSchedulerEntry

from app import monitor
from config.celery_config import celery_app
from tests.support.pages import page_test
from tests.support.users import ADMIN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stale_hourly_entry():
    """An hourly entry whose last run was three days ago, as after a long beat outage."""
    entry = RedBeatSchedulerEntry(
        "test-stale-hourly", "app.tasks.maintenance_tasks.health_check", crontab(minute=7),
        app=celery_app,
    )
    entry.save()
    entry.reschedule(datetime.now(UTC) - timedelta(days=3))
    yield entry
    entry.delete()


def test_an_overdue_entry_reads_as_due_now_in_words(stale_hourly_entry) -> None:
    rows = {e["name"]: e for e in monitor.beat_schedule()}
    entry = rows["test-stale-hourly"]
    assert entry["schedule"] == "At 7 minutes past the hour"
    assert entry["next_run"] >= time.time() - 5
    assert entry["last_run"] < time.time() - 2 * 86400


def test_the_beat_tab_shows_no_raw_crontab_or_iso_times(stale_hourly_entry) -> None:
    at = page_test(str(ROOT / "pages/task_monitor.py"), user=ADMIN).run()
    assert not at.exception, at.exception
    table = next(
        frame.value for frame in at.dataframe if "Schedule" in frame.value.columns
    )
    text = table.to_string()
    assert "At 7 minutes past the hour" in text
    assert "<crontab" not in text and "T" not in "".join(table["Next run"])
    row = table[table["Entry"] == "test-stale-hourly"].iloc[0]
    assert "3 days ago" in row["Last run"]
