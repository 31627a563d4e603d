"""Schedules in words, and when they next run: for the monitor, recurring reports and email.

Works on Celery's schedule objects by their public shape (a crontab's fields, an interval's
`run_every`, `remaining_estimate`) so that domain code may use it without importing Celery.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cron_descriptor import ExpressionDescriptor, FormatException, Options

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def describe_expression(expression: str) -> str:
    """A five-field cron expression in words ("At 08:00, Monday through Friday")."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        return ExpressionDescriptor(expression, options).get_description()
    except FormatException:
        return f"cron {expression}"


def expression_of(schedule: Any) -> str | None:
    """The five-field cron expression of a crontab schedule; None for any other schedule."""
    fields = [getattr(schedule, f"_orig_{name}", None) for name in CRON_FIELDS]
    if any(field is None for field in fields):
        return None
    return " ".join(str(field) for field in fields)


def describe(schedule: Any) -> str:
    """Any beat schedule in words: a crontab by its expression, an interval by its period."""
    expression = expression_of(schedule)
    if expression is not None:
        return describe_expression(expression)
    period = getattr(schedule, "run_every", None)
    if isinstance(period, timedelta):
        return f"Every {every(period.total_seconds())}"
    return str(schedule)


def every(seconds: float) -> str:
    """A period in the largest unit that divides it: "15 seconds", "minute", "6 hours"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} seconds"


def next_run(schedule: Any, last_run_at: datetime | None, now: datetime) -> datetime:
    """When beat next starts the entry: never before `now`, since overdue work runs at once."""
    due = now + schedule.remaining_estimate(last_run_at or now)
    return max(due, now)
