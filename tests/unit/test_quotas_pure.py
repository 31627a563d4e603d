"""The pure parts of quotas: the shortest gap of a cron schedule, sizes and waits as sentences."""

from __future__ import annotations

import pytest
from celery.schedules import crontab

from app.quotas import format_size, format_wait, shortest_gap_minutes


@pytest.mark.parametrize(
    ("cron", "gap"),
    [
        ("*/5 * * * *", 5),
        ("0,30 * * * *", 30),
        ("*/20 9-17 * * 1-5", 20),
        ("0 8 * * *", 1440),
        ("0 8 * * 1", 7 * 1440),
        ("0 8 * * 1,2", 1440),
        # 23:59 then 00:59 the next day: the gap across midnight is the short one.
        ("59 0,23 * * *", 60),
        ("0 0,12 * * *", 720),
        ("*/10 * * * 6", 10),  # every 10 minutes, but only on Saturdays
    ],
)
def test_shortest_gap_between_firings(cron: str, gap: int) -> None:
    assert shortest_gap_minutes(crontab.from_string(cron)) == gap


def test_a_monthly_schedule_is_weeks_apart() -> None:
    assert shortest_gap_minutes(crontab.from_string("0 6 1 * *")) >= 28 * 1440


def test_a_leap_day_schedule_is_at_least_a_year_apart() -> None:
    gap = shortest_gap_minutes(crontab.from_string("0 0 29 2 *"))
    assert gap is None or gap >= 365 * 1440


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1536, "1.5 KB"),
        (5 * 1024 * 1024, "5 MB"),
        (2048 * 1024 * 1024, "2 GB"),
        (int(2.1 * 1024**3), "2.1 GB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1 second"), (23, "23 seconds"), (600, "10 minutes"), (3 * 3600 + 300, "3 h 5 min")],
)
def test_format_wait(seconds: float, text: str) -> None:
    assert format_wait(seconds) == text
