"""Scheduled emails: checked and stored when asked for, handed to the queue when due.

Nothing waits in a far-future ETA, which Redis would deliver twice once the visibility timeout
passed: the store keeps the email (and its body) until beat's dispatcher finds it due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.mail.compose import OwnedFiles, compose
from app.mail.message import build_message
from app.mail.store import ScheduledEmail, ScheduleStore

# Queues one send_email job as `owner` with these parameters; returns the new job's id.
QueueSend = Callable[[str, dict[str, Any]], str]


def schedule_id_for(job_id: str, owner: str, idempotency_key: str | None) -> str:
    """The id a schedule is stored under: the job's, or one fixed by the owner's own key.

    Following the key, asking twice stores once; owner and key together, so someone else's key
    can never reach this owner's schedule.
    """
    if not idempotency_key:
        return job_id
    digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()[:32]
    return f"key-{digest}"


def schedule_email(
    store: ScheduleStore,
    files: OwnedFiles,
    fields: dict[str, Any],
    due: datetime,
    timezone: str,
    schedule_id: str,
) -> dict[str, Any]:
    """Check the message now and store it to go out at `due`; the scheduling job's summary."""
    # Built once so bad addresses or attachments fail now, not at the due time.
    outgoing = build_message(compose(fields, files), f"scheduled:{schedule_id}")
    entry = store.add(
        ScheduledEmail(
            id=schedule_id,
            owner=files.owner,
            due_at=due.timestamp(),
            timezone=timezone,
            subject=outgoing.subject,
            recipients=", ".join(outgoing.recipients[:5]),
            params=fields,
            schedule_job_id=files.job_id,
        )
    )
    return {
        "schedule_id": entry.id,
        "due_at": datetime.fromtimestamp(entry.due_at, UTC).isoformat(),
        "timezone": timezone,
        "state": entry.state,
        "recipients": len(outgoing.recipients),
    }


def dispatch_due(
    store: ScheduleStore, queue_send: QueueSend, limit: int, lease: float
) -> list[dict[str, str]]:
    """Queue every due email as a send job of its owner; which schedule became which job.

    Each email is claimed with a lease before it is queued and marked dispatched after, so a
    dispatcher that dies in between leaves it to come due again rather than lost.
    """
    dispatched = []
    for entry in store.claim_due(limit=limit, lease=lease):
        params = {
            **entry.params,
            "idempotency_key": f"scheduled:{entry.id}",
            "schedule_id": entry.id,
        }
        job_id = queue_send(entry.owner, params)
        store.mark_dispatched(entry.id, job_id)
        dispatched.append({"schedule_id": entry.id, "job_id": job_id})
    return dispatched
