"""Recurring reports: the definition in app.reports.store, the timing in a celery-redbeat entry.

Both live in Redis, so beat picks up a schedule added, paused or deleted at runtime without a
restart, and nothing is lost when beat or a worker restarts. Cron expressions are in UTC.
Every call that names an `owner` acts for that person only: someone else's schedule answers
exactly as a missing one does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery.schedules import crontab
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import ensure_conf

from app import audit, cron, quotas
from app.auth import User
from app.connection import get_redis
from app.errors import PermanentError
from app.reports import recurring, store
from app.tasks.recording import ADMIN_HEADER, OWNER_HEADER
from config.celery_config import celery_app

RUN_TASK = "app.tasks.report_tasks.run_scheduled_report"


def entry_name(schedule_id: str) -> str:
    """The RedBeat entry name; its key becomes <prefix>:redbeat:report:<id>."""
    return f":report:{schedule_id}"


def parse_cron(expression: str) -> crontab:
    """A crontab from five fields (minute hour day-of-month month day-of-week), in UTC."""
    fields = recurring.cron_fields(expression)
    try:
        schedule = crontab.from_string(fields)
        schedule.remaining_estimate(datetime.now(UTC))
    except (ValueError, KeyError, IndexError) as exc:
        raise PermanentError(f"'{expression}' is not a valid cron schedule: {exc}") from None
    return schedule


def create(
    *,
    name: str,
    report: str,
    params: dict[str, Any],
    cron: str,
    recipients: list[str] | str,
    owner: str,
    schedule_id: str | None = None,
    by_admin: bool = False,
) -> dict[str, Any]:
    """Store a schedule and its beat entry; it first fires at the next time `cron` matches.

    A person's schedule may not fire more often than their shortest-interval quota allows.
    """
    recurring.check_kind(report)
    schedule = parse_cron(cron)
    with quotas.as_permanent():
        quotas.check_report_interval(schedule, owner, by_admin)
    definition = recurring.definition(
        schedule_id=schedule_id or recurring.new_id(),
        name=name,
        report=report,
        params=params,
        cron=cron,
        recipients=recipients,
        owner=owner,
        by_admin=by_admin,
    )
    _save_entry(definition["id"], schedule, definition, enabled=True)
    store.save(definition, get_redis())
    audit.record(owner, "report-schedule.create", definition["id"], definition["cron"])
    return get(definition["id"]) or definition


def get(schedule_id: str, owner: str | None = None) -> dict[str, Any] | None:
    """A schedule's definition with its state: enabled, next and last run, runs so far.

    With `owner`, someone else's schedule answers None, as a missing one does.
    """
    definition = store.load(schedule_id, get_redis())
    if definition is None:
        return None
    if owner is not None and definition.get("owner") != owner:
        return None
    definition.update(_status(schedule_id))
    definition["last_job"] = store.last_job(schedule_id, get_redis())
    return definition


def list_schedules(owner: str | None = None) -> list[dict[str, Any]]:
    """Every schedule, newest first; only `owner`'s when given."""
    found = [s for s in (get(i) for i in store.schedule_ids(get_redis())) if s]
    return [s for s in found if owner is None or s.get("owner") == owner]


def pause(
    schedule_id: str, owner: str | None = None, *, actor: User | str | None = None,
    client: str = "",
) -> bool:
    """Stop a schedule from firing until it is resumed; False when there is no such schedule."""
    done = _set_enabled(schedule_id, False, owner)
    if done:
        audit.record(actor or owner, "report-schedule.pause", schedule_id, client=client)
    return done


def resume(
    schedule_id: str, owner: str | None = None, *, actor: User | str | None = None,
    client: str = "",
) -> bool:
    """Let a paused schedule fire again, from its next matching time (missed runs are skipped)."""
    done = _set_enabled(schedule_id, True, owner)
    if done:
        audit.record(actor or owner, "report-schedule.resume", schedule_id, client=client)
    return done


def delete(
    schedule_id: str, owner: str | None = None, *, actor: User | str | None = None,
    client: str = "",
) -> bool:
    """Remove the schedule, its beat entry and its kept data file; only `owner`'s when given."""
    if owner is not None and get(schedule_id, owner) is None:
        return False
    audit.record(actor or owner, "report-schedule.delete", schedule_id, client=client)
    entry = _entry(schedule_id)
    if entry is not None:
        entry.delete()
    removed = store.remove(schedule_id, get_redis())
    recurring.remove_data(schedule_id)
    return removed or entry is not None


def record_run(schedule_id: str, job_id: str) -> None:
    """Remember the job of the latest run, for the page's table."""
    store.record_run(schedule_id, job_id, get_redis())


# the beat entry ------------------------------------------------------------------------------


def _save_entry(
    schedule_id: str, schedule: crontab, definition: dict[str, Any], enabled: bool
) -> None:
    """The beat entry; each run is a job of the schedule's owner."""
    headers = {OWNER_HEADER: definition["owner"]}
    if definition.get("by_admin"):
        headers[ADMIN_HEADER] = "1"
    entry = RedBeatSchedulerEntry(
        entry_name(schedule_id),
        RUN_TASK,
        schedule,
        kwargs={"schedule_id": schedule_id},
        options={"headers": headers},
        enabled=enabled,
        app=celery_app,
    )
    # Without a last run, RedBeat treats a new entry as overdue and fires it at once.
    entry.last_run_at = datetime.now(UTC)
    entry.save()


def _entry(schedule_id: str) -> RedBeatSchedulerEntry | None:
    ensure_conf(celery_app)  # a process that has not saved an entry yet has no redbeat config
    key = RedBeatSchedulerEntry.generate_key(celery_app, entry_name(schedule_id))
    try:
        return RedBeatSchedulerEntry.from_key(key, app=celery_app)
    except KeyError:
        return None


def _status(schedule_id: str) -> dict[str, Any]:
    entry = _entry(schedule_id)
    if entry is None:
        return {"enabled": False, "next_run": None, "last_run": None, "runs": 0}
    last = entry.last_run_at
    due = cron.next_run(entry.schedule, last, datetime.now(UTC)) if entry.enabled else None
    return {
        "enabled": bool(entry.enabled),
        "next_run": due.timestamp() if due else None,
        "last_run": last.timestamp() if last else None,
        "runs": int(entry.total_run_count or 0),
    }


def _set_enabled(schedule_id: str, enabled: bool, owner: str | None) -> bool:
    definition = get(schedule_id, owner)
    if definition is None:
        return False
    _save_entry(schedule_id, parse_cron(definition["cron"]), definition, enabled)
    entry = _entry(schedule_id)
    if entry is not None and enabled:
        entry.reschedule()
    return True
