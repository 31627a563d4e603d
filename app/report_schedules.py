"""Recurring reports: definitions in Redis, dispatched by beat through celery-redbeat entries.

A schedule is two keys: our definition hash (what to build, for whom) and a RedBeat entry (when).
Both live in Redis, so beat picks up a schedule added, paused or deleted at runtime without a
restart, and nothing is lost when beat or a worker restarts. Cron expressions are in UTC.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from email_validator import EmailNotValidError, validate_email
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import ensure_conf

from app import audit, quotas, storage
from app.auth import User
from app.connection import get_redis
from app.errors import PermanentError
from app.settings import get_settings
from app.tasks.recording import ADMIN_HEADER, OWNER_HEADER
from config.celery_config import celery_app

RUN_TASK = "app.tasks.report_tasks.run_scheduled_report"
REPORT_KINDS = ("analytics", "summary", "task_performance", "export")
MAX_RECIPIENTS = 50


def _key(schedule_id: str) -> str:
    return f"{get_settings().registry_prefix}:report-schedule:{schedule_id}"


def _index_key() -> str:
    return f"{get_settings().registry_prefix}:report-schedules"


def new_id() -> str:
    """A fresh schedule id, also usable as a storage folder name."""
    return uuid.uuid4().hex[:12]


def entry_name(schedule_id: str) -> str:
    """The RedBeat entry name; its key becomes <prefix>:redbeat:report:<id>."""
    return f":report:{schedule_id}"


def parse_cron(expression: str) -> crontab:
    """A crontab from five fields (minute hour day-of-month month day-of-week), in UTC."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise PermanentError(
            "A schedule needs five cron fields: minute hour day-of-month month day-of-week, "
            "for example '0 8 * * 1' for Mondays at 08:00 UTC."
        )
    try:
        schedule = crontab.from_string(" ".join(fields))
        schedule.remaining_estimate(datetime.now(UTC))
    except (ValueError, KeyError, IndexError) as exc:
        raise PermanentError(f"'{expression}' is not a valid cron schedule: {exc}") from None
    return schedule


def check_recipients(recipients: list[str] | str) -> list[str]:
    """Normalised addresses; a PermanentError naming the first one that is not an address."""
    items = recipients.replace(";", ",").split(",") if isinstance(recipients, str) else recipients
    cleaned = [r.strip() for r in items if r and r.strip()]
    if len(cleaned) > MAX_RECIPIENTS:
        raise PermanentError(f"A schedule can email at most {MAX_RECIPIENTS} recipients.")
    result = []
    for address in cleaned:
        try:
            result.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise PermanentError(f"{address} is not an email address: {exc}") from None
    return result


def keep_data_file(schedule_id: str, ref: dict[str, Any]) -> dict[str, Any]:
    """Copy a data file to the schedule's own folder, so job clean-up never takes it away."""
    source = storage.resolve(ref)
    folder = data_folder(schedule_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / storage.safe_filename(ref.get("name") or source.name, "data")
    shutil.copyfile(source, target)
    return {**ref, "path": storage.relative(target), "job_id": ""}


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
    if report not in REPORT_KINDS:
        raise PermanentError(f"Unknown report '{report}'; choose from {', '.join(REPORT_KINDS)}.")
    schedule = parse_cron(cron)
    with quotas.as_permanent():
        quotas.check_report_interval(schedule, owner, by_admin)
    schedule_id = schedule_id or new_id()
    definition = {
        "id": schedule_id,
        "name": (name or "Recurring report").strip()[:120],
        "report": report,
        "params": params,
        "cron": " ".join(cron.split()),
        "recipients": check_recipients(recipients),
        "owner": owner,
        "by_admin": by_admin,
        "created_at": time.time(),
    }
    _save_entry(schedule_id, schedule, definition, enabled=True)
    client = get_redis()
    with client.pipeline() as pipe:
        pipe.hset(_key(schedule_id), mapping={"definition": json.dumps(definition)})
        pipe.zadd(_index_key(), {schedule_id: definition["created_at"]})
        pipe.execute()
    audit.record(owner, "report-schedule.create", schedule_id, definition["cron"])
    return get(schedule_id) or definition


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


def get(schedule_id: str, owner: str | None = None) -> dict[str, Any] | None:
    """A schedule's definition with its state: enabled, next and last run, runs so far.

    With `owner`, someone else's schedule answers None, as a missing one does.
    """
    raw = get_redis().hget(_key(schedule_id), "definition")
    if not raw:
        return None
    definition = json.loads(raw)
    if owner is not None and definition.get("owner") != owner:
        return None
    definition.update(_status(schedule_id))
    definition["last_job"] = get_redis().hget(_key(schedule_id), "last_job") or None
    return definition


def _status(schedule_id: str) -> dict[str, Any]:
    entry = _entry(schedule_id)
    if entry is None:
        return {"enabled": False, "next_run": None, "last_run": None, "runs": 0}
    last = entry.last_run_at
    due = entry.due_at if entry.enabled else None
    return {
        "enabled": bool(entry.enabled),
        "next_run": due.timestamp() if due else None,
        "last_run": last.timestamp() if last else None,
        "runs": int(entry.total_run_count or 0),
    }


def list_schedules(owner: str | None = None) -> list[dict[str, Any]]:
    """Every schedule, newest first; only `owner`'s when given."""
    ids = get_redis().zrevrange(_index_key(), 0, -1)
    found = [s for s in (get(i) for i in ids) if s]
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


def _set_enabled(schedule_id: str, enabled: bool, owner: str | None) -> bool:
    definition = get(schedule_id, owner)
    if definition is None:
        return False
    _save_entry(schedule_id, parse_cron(definition["cron"]), definition, enabled)
    entry = _entry(schedule_id)
    if entry is not None and enabled:
        entry.reschedule()
    return True


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
    client = get_redis()
    with client.pipeline() as pipe:
        pipe.delete(_key(schedule_id))
        pipe.zrem(_index_key(), schedule_id)
        removed, _ = pipe.execute()
    shutil.rmtree(data_folder(schedule_id), ignore_errors=True)
    return bool(removed) or entry is not None


def record_run(schedule_id: str, job_id: str) -> None:
    """Remember the job of the latest run, for the page's table."""
    get_redis().hset(_key(schedule_id), "last_job", job_id)


def data_folder(schedule_id: str) -> Path:
    """Where a schedule keeps its copy of the data it reports on."""
    return storage.root() / "schedules" / storage.check_job_id(schedule_id)
