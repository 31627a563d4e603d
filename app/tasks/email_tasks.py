"""Email jobs on the `email` queue: single, bulk, notification, scheduled, and beat's dispatcher.

Each task unpacks its arguments, calls one function of app/mail, reports progress and returns
the summary. The domain code gets what it needs from the platform passed in: the Redis client
for its store, the registry as a record lookup, and the owner's email quota.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app import quotas
from app.connection import get_redis, get_registry
from app.errors import TransientError
from app.mail.bulk import BulkRun, bulk_recipients, check_duration, write_outcomes
from app.mail.compose import OwnedFiles, compose, notification_draft
from app.mail.delivery import SendGuards, deliver_once, global_limits, logical_key
from app.mail.message import build_message
from app.mail.render import MessageTemplate
from app.mail.schedule import due_time
from app.mail.scheduled import dispatch_due, schedule_email, schedule_id_for
from app.mail.smtp import SmtpSender
from app.mail.store import ScheduleStore, SendLedger, Throttle
from app.settings import get_settings
from app.tasks import params as params_wire
from app.tasks.base import JobTask
from app.tasks.recording import OWNER_HEADER
from config.celery_config import celery_app

DISPATCH_BATCH = 200
DISPATCH_LEASE = 120.0
MAX_RETRIES = 5
DAY = 86400


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES)
def send_email(
    self: JobTask,
    to: list[str] | str,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    cc: list[str] | str | None = None,
    bcc: list[str] | str | None = None,
    reply_to: list[str] | str | None = None,
    attachments: list[dict] | None = None,
    idempotency_key: str | None = None,
    schedule_id: str | None = None,
) -> dict:
    """Send one message (text and/or HTML, attachments from the owner's jobs) exactly once."""
    owner = job_owner(self.job_id)
    draft = compose({
        "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to, "subject": subject,
        "text": text, "html": html, "attachments": attachments,
    }, owned_files(self.job_id, owner))
    outgoing = build_message(draft, logical_key(self.job_id, idempotency_key, owner, job_record))
    self.progress(0, 1, "Sending")
    with SmtpSender() as sender:
        sent = deliver_once(sender, outgoing, global_limits(), owner, send_guards())
    self.progress(1, 1, "Already sent earlier" if sent.earlier else "Sent")
    return {**sent.summary(), "subject": outgoing.subject, "schedule_id": schedule_id}


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES)
def send_bulk_emails(
    self: JobTask,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    recipients: list[str | dict] | None = None,
    csv: list[dict] | dict | None = None,
    email_column: str | None = None,
    rate_per_minute: int | None = None,
    reply_to: list[str] | str | None = None,
    attachments: list[dict] | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """One personalised message per recipient over a few reused SMTP sessions, each sent once."""
    owner = job_owner(self.job_id)
    files = owned_files(self.job_id, owner)
    listing = bulk_recipients(files, recipients, csv, email_column)
    with quotas.as_permanent():
        quotas.check_bulk_recipients(owner, len(listing.recipients))
    template = MessageTemplate(subject=subject or "", text=text, html=html)
    template.check_fields([*listing.columns, "email", "name"])
    check_duration(len(listing.recipients), rate_per_minute, self.soft_time_limit)
    run = BulkRun(
        base_key=logical_key(self.job_id, idempotency_key, owner, job_record),
        template=template,
        attachments=files.attachments(attachments),
        reply_to=reply_to or (),
        limits=global_limits(rate_per_minute, self.job_id),
        listing=listing,
        owner=owner,
        guards=send_guards(),
        cancelled=cancel_check(self),
    )
    try:
        run.send_all(self.progress, on_cancel=lambda stopped: record_stop(self.job_id, stopped))
    finally:
        write_outcomes(self.job_id, run.outcomes)
    if run.deferred() and self.request.retries < self.max_retries:
        raise TransientError(
            f"The mail server deferred {len(run.deferred())} recipient(s) for now;"
            " they will be tried again.",
            retry_after=run.retry_after or None,
        )
    return run.result()


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES)
def send_notification(
    self: JobTask,
    template: str,
    to: list[str] | str,
    context: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """Send a built-in notification (welcome, job_finished, job_failed, report_ready)."""
    owner = job_owner(self.job_id)
    draft = notification_draft(template, to, context)
    outgoing = build_message(draft, logical_key(self.job_id, idempotency_key, owner, job_record))
    with SmtpSender() as sender:
        sent = deliver_once(sender, outgoing, global_limits(), owner, send_guards())
    return {**sent.summary(), "subject": outgoing.subject, "template": template}


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES)
def send_scheduled_email(
    self: JobTask,
    send_at: str | float,
    to: list[str] | str,
    subject: str,
    timezone: str = "UTC",
    text: str | None = None,
    html: str | None = None,
    cc: list[str] | str | None = None,
    bcc: list[str] | str | None = None,
    reply_to: list[str] | str | None = None,
    attachments: list[dict] | None = None,
    idempotency_key: str | None = None,
) -> dict:
    """Check the message now and store it durably; beat's dispatcher sends it when due.

    The schedule's id follows the idempotency key when one is given, so asking twice stores once.
    """
    owner = job_owner(self.job_id)
    due = due_time(send_at, timezone, asked_at=submitted_at(self.job_id))
    fields = {
        "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to, "subject": subject,
        "text": text, "html": html, "attachments": attachments or [],
    }
    return schedule_email(
        ScheduleStore(get_redis()),
        owned_files(self.job_id, owner),
        fields,
        due=due,
        timezone=timezone,
        schedule_id=schedule_id_for(self.job_id, owner, idempotency_key),
    )


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES, internal=True)
def dispatch_due_emails(self: JobTask) -> dict:
    """Beat's dispatcher: queue every scheduled email that is due, as a send_email job."""
    store = ScheduleStore(get_redis())
    dispatched = dispatch_due(store, queue_send_email, limit=DISPATCH_BATCH, lease=DISPATCH_LEASE)
    store.purge(time.time() - get_settings().retention_days * DAY)
    return {"dispatched": len(dispatched), "jobs": dispatched, "next_due": store.next_due()}


# ---------------------------------------------------------------------------------------------
# What the domain code is handed


def queue_send_email(owner: str, params: dict[str, Any]) -> str:
    """Publish one send_email job as `owner`; its job id."""
    job_id = str(uuid.uuid4())
    # The store keeps the body until it is due; the message and its events carry refs.
    send_email.apply_async(
        **params_wire.publish_options(job_id, params), headers={OWNER_HEADER: owner}
    )
    return job_id


def send_guards() -> SendGuards:
    """The ledger, throttle and daily quota every send of a job consults."""
    client = get_redis()
    return SendGuards(
        ledger=SendLedger(client),
        throttle=Throttle(client),
        take_quota=take_email_quota,
        give_back_quota=quotas.give_back_email,
    )


def take_email_quota(owner: str) -> None:
    """Count one message against the owner's day; a refusal fails the job, never retried."""
    with quotas.as_permanent():
        quotas.take_email(owner)


def record_stop(job_id: str, stopped: dict[str, Any]) -> None:
    """The worker's word that it stopped: what was done, on the record jobs.cancel ended."""
    get_registry().update(job_id, **stopped)


def cancel_check(task: JobTask) -> Callable[[], bool]:
    """A check that turns true once the user cancels the job (jobs.cancel moves it to REVOKED)."""
    if task.request.called_directly:
        return lambda: False  # called directly: there is no job to cancel
    job_id = task.job_id
    return lambda: get_registry().state(job_id) == "REVOKED"


def job_record(job_id: str) -> dict[str, Any] | None:
    """The job's record in the registry, or None when there is none (called directly)."""
    return get_registry().get(job_id) if job_id else None


def job_owner(job_id: str) -> str:
    """Who submitted the job; attachments may only come from that owner's jobs."""
    return (job_record(job_id) or {}).get("owner") or get_settings().default_owner


def owned_files(job_id: str, owner: str) -> OwnedFiles:
    """The stored files the job may read: its own and its owner's other jobs'."""
    return OwnedFiles(job_id, owner, job_record)


def submitted_at(job_id: str) -> datetime | None:
    """When the job was submitted, or None when it has no record (called directly)."""
    stamp = (job_record(job_id) or {}).get("submitted_at")
    return datetime.fromtimestamp(stamp, UTC) if stamp else None
