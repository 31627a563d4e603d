"""Schedules read in words, and their next run is never in the past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery.schedules import crontab, schedule

from app import cron

NOW = datetime(2026, 12, 2, 10, 30, 20, tzinfo=UTC)


def _fixed(dt: datetime):
    return lambda: dt


def test_a_crontab_reads_as_words_not_as_its_repr() -> None:
    assert cron.describe(crontab(minute=7)) == "At 7 minutes past the hour"
    assert cron.describe(crontab(minute=0, hour=8, day_of_week="1-5")) == (
        "At 08:00, Monday through Friday"
    )


def test_an_interval_reads_in_its_largest_whole_unit() -> None:
    assert cron.describe(schedule(timedelta(seconds=15))) == "Every 15 seconds"
    assert cron.describe(schedule(timedelta(minutes=1))) == "Every minute"
    assert cron.describe(schedule(timedelta(hours=6))) == "Every 6 hours"


def test_a_bad_expression_is_shown_as_it_was_written() -> None:
    assert cron.describe_expression("every tuesday") == "cron every tuesday"


def test_the_next_run_of_a_crontab_is_on_its_minute_and_ahead() -> None:
    hourly = crontab(minute=7, nowfun=_fixed(NOW))
    due = cron.next_run(hourly, NOW - timedelta(minutes=5), NOW)
    assert due == datetime(2026, 12, 2, 11, 7, tzinfo=UTC)


def test_an_overdue_entry_is_due_now_never_in_the_past() -> None:
    hourly = crontab(minute=7, nowfun=_fixed(NOW))
    assert cron.next_run(hourly, NOW - timedelta(days=3), NOW) == NOW
