"""The job history a task-performance report covers: its period, and the records within it.

The records come from the job registry, which the caller passes in (`JobHistory`), so this
module reads them without knowing where they are kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from app.errors import PermanentError

REGISTRY_BATCH = 500
JOB_FIELDS = (
    "id",
    "kind",
    "queue",
    "state",
    "owner",
    "submitted_at",
    "started_at",
    "finished_at",
    "retries",
    "error",
    "retry_of",
)


class JobHistory(Protocol):
    """What a report reads of the job registry (app.registry.Registry)."""

    def ids_between(self, start: float, end: float) -> list[str]: ...

    def get_many(self, job_ids: list[str]) -> list[dict[str, Any]]: ...


def period(
    start: str | float | None, end: str | float | None, days: float | None
) -> tuple[dt.datetime, dt.datetime]:
    """The UTC period to report on: explicit bounds, or the last `days` days up to now."""
    finish = _moment(end) if end not in (None, "") else dt.datetime.now(dt.UTC)
    begin = (
        _moment(start) if start not in (None, "") else finish - dt.timedelta(days=float(days or 7))
    )
    if begin >= finish:
        raise PermanentError("The report's start must be before its end.")
    return begin, finish


def _moment(value: str | float) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentError(f"{value!r} is not a date or a date and time.") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def jobs_between(
    history: JobHistory,
    begin: dt.datetime,
    end: dt.datetime,
    *,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    exclude: str | None = None,
    owner: str | None = None,
) -> list[dict]:
    """Job records submitted in the period, trimmed to the fields the report needs.

    With `owner`, only that person's jobs: a report shows everyone's only to an admin.
    """
    ids = [i for i in history.ids_between(begin.timestamp(), end.timestamp()) if i != exclude]
    jobs = []
    for start in range(0, len(ids), REGISTRY_BATCH):
        for record in history.get_many(ids[start : start + REGISTRY_BATCH]):
            if (
                (kinds and record.get("kind") not in kinds)
                or (queues and record.get("queue") not in queues)
                or (owner is not None and record.get("owner") != owner)
            ):
                continue
            jobs.append({name: record.get(name) for name in JOB_FIELDS})
    return jobs
