"""Email jobs on the `email` queue: single, bulk, notification, scheduled, and beat's dispatcher.

Every message has a logical key (the job's idempotency key, else the first job of its retry
chain, plus the recipient for bulk sends). The key fixes the Message-ID and names the message in
the send ledger, so a retried, redelivered or re-run job never sends the same message twice.
"""

from __future__ import annotations

import csv as csv_format
import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from app import quotas, storage
from app.connection import get_registry
from app.errors import JobCancelled, PermanentError, TransientError
from app.mail import schedule
from app.mail.bulk import send_parallel
from app.mail.message import Attachment, Draft, OutgoingMessage, build_message
from app.mail.notifications import render_notification
from app.mail.recipients import Recipient, RecipientList, from_entries, load_csv
from app.mail.render import MessageTemplate
from app.mail.smtp import Deferred, SmtpSender
from app.mail_state import (
    ScheduledEmail,
    ScheduleStore,
    SendLedger,
    Throttle,
    global_limits,
)
from app.reports.cells import csv_value
from app.settings import get_settings
from app.tasks import params as params_wire
from app.tasks.base import JobTask
from app.tasks.recording import OWNER_HEADER
from config.celery_config import celery_app

OUTCOMES_FILE = "outcomes.csv"
RESULT_ROWS = 200
DISPATCH_BATCH = 200
DISPATCH_LEASE = 120.0
MAX_RETRIES = 5


# ---------------------------------------------------------------------------------------------
# The tasks


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
    draft = compose(self.job_id, owner, {
        "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to, "subject": subject,
        "text": text, "html": html, "attachments": attachments,
    })
    outgoing = build_message(draft, logical_key(self.job_id, idempotency_key, owner))
    self.progress(0, 1, "Sending")
    with SmtpSender() as sender:
        sent = deliver_once(sender, outgoing, global_limits(), owner)
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
    listing = bulk_recipients(self.job_id, owner, recipients, csv, email_column)
    with quotas.as_permanent():
        quotas.check_bulk_recipients(owner, len(listing.recipients))
    template = MessageTemplate(subject=subject or "", text=text, html=html)
    template.check_fields([*listing.columns, "email", "name"])
    check_duration(self, len(listing.recipients), rate_per_minute)
    run = BulkRun(
        base_key=logical_key(self.job_id, idempotency_key, owner),
        template=template,
        attachments=attachment_files(self.job_id, attachments, owner),
        reply_to=reply_to or (),
        limits=global_limits(rate_per_minute, self.job_id),
        listing=listing,
        owner=owner,
        job_id=self.job_id if not self.request.called_directly else "",
    )
    try:
        run.send_all(self)
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
    rendered = render_notification(template, context or {})
    draft = Draft(
        sender=get_settings().mail_from,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        # RFC 3834: out-of-office robots must not answer automatic mail.
        headers={"Auto-Submitted": "auto-generated"},
    )
    outgoing = build_message(draft, logical_key(self.job_id, idempotency_key, owner))
    with SmtpSender() as sender:
        sent = deliver_once(sender, outgoing, global_limits(), owner)
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
    schedule_id = self.job_id
    if idempotency_key:
        # Owner and key together: someone else's key can never reach this owner's schedule.
        digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()[:32]
        schedule_id = f"key-{digest}"
    due = due_time(send_at, timezone, asked_at=submitted_at(self.job_id))
    params = {
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": reply_to,
        "subject": subject,
        "text": text,
        "html": html,
        "attachments": attachments or [],
    }
    # Build the message once so bad addresses or attachments fail now, not at the due time.
    draft = compose(self.job_id, owner, params)
    outgoing = build_message(draft, f"scheduled:{schedule_id}")
    entry = ScheduleStore().add(
        ScheduledEmail(
            id=schedule_id,
            owner=owner,
            due_at=due.timestamp(),
            timezone=timezone,
            subject=outgoing.subject,
            recipients=", ".join(outgoing.recipients[:5]),
            params=params,
            schedule_job_id=self.job_id,
        )
    )
    return {
        "schedule_id": entry.id,
        "due_at": datetime.fromtimestamp(entry.due_at, UTC).isoformat(),
        "timezone": timezone,
        "state": entry.state,
        "recipients": len(outgoing.recipients),
    }


@celery_app.task(bind=True, base=JobTask, max_retries=MAX_RETRIES, internal=True)
def dispatch_due_emails(self: JobTask) -> dict:
    """Beat's dispatcher: queue every scheduled email that is due, as a send_email job."""
    store = ScheduleStore()
    dispatched = []
    for entry in store.claim_due(limit=DISPATCH_BATCH, lease=DISPATCH_LEASE):
        params = {
            **entry.params,
            "idempotency_key": f"scheduled:{entry.id}",
            "schedule_id": entry.id,
        }
        job_id = str(uuid.uuid4())
        # The store keeps the body until it is due; the message and its events carry refs.
        send_email.apply_async(
            **params_wire.publish_options(job_id, params), headers={OWNER_HEADER: entry.owner}
        )
        store.mark_dispatched(entry.id, job_id)
        dispatched.append({"schedule_id": entry.id, "job_id": job_id})
    store.purge(time.time() - get_settings().retention_days * 86400)
    return {"dispatched": len(dispatched), "jobs": dispatched, "next_due": store.next_due()}


# ---------------------------------------------------------------------------------------------
# Sending exactly once


@dataclass(frozen=True)
class Sent:
    """A message the server accepted, now or in an earlier attempt."""

    message_id: str
    accepted: tuple[str, ...]
    refused: dict[str, str]
    response: str
    earlier: bool = False

    def summary(self) -> dict:
        return {
            "message_id": self.message_id,
            "accepted": list(self.accepted),
            "refused": self.refused,
            "response": self.response,
            "already_sent": self.earlier,
        }


def deliver_once(
    sender: SmtpSender,
    outgoing: OutgoingMessage,
    limits: dict[str, int],
    owner: str,
    cancelled: Callable[[], bool] | None = None,
) -> Sent:
    """Send `outgoing` unless its key is already in the ledger; raises the classified error.

    With `cancelled`, a cancel noticed during the throttle's wait raises JobCancelled before
    anything is claimed or sent.
    """
    ledger = SendLedger()
    if (record := ledger.get(outgoing.key)) is not None:
        return _sent_earlier(outgoing, record)
    Throttle().wait(limits, cancelled)
    if cancelled is not None and cancelled():
        raise JobCancelled("The job was cancelled.")
    claim = ledger.claim(outgoing.key)
    if claim.status == "sent":
        return _sent_earlier(outgoing, claim.record)
    if claim.status == "busy":
        raise Deferred(
            "Another attempt is sending this message right now; it will be checked again.",
            retry_after=claim.retry_in,
        )
    try:
        with quotas.as_permanent():
            quotas.take_email(owner)  # counted before sending, given back if it fails
    except PermanentError:
        ledger.release(outgoing.key, claim.token)
        raise
    try:
        delivery = sender.send(outgoing)
    except BaseException:
        quotas.give_back_email(owner)
        ledger.release(outgoing.key, claim.token)
        raise
    ledger.mark_sent(
        outgoing.key,
        owner,
        {
            "message_id": delivery.message_id,
            "accepted": list(delivery.accepted),
            "refused": delivery.refused,
            "response": delivery.response,
        },
    )
    return Sent(delivery.message_id, delivery.accepted, delivery.refused, delivery.response)


def _sent_earlier(outgoing: OutgoingMessage, record: dict) -> Sent:
    return Sent(
        message_id=record.get("message_id", outgoing.message_id),
        accepted=tuple(record.get("accepted", outgoing.recipients)),
        refused=record.get("refused", {}),
        response=record.get("response", ""),
        earlier=True,
    )


def logical_key(job_id: str, idempotency_key: str | None, owner: str) -> str:
    """The key of a job's message: the owner's own key, else the first job of its retry chain.

    Keys are scoped by owner: someone else's idempotency key names a different message.
    """
    if idempotency_key:
        return f"key:{owner}:{idempotency_key}"
    return f"job:{first_of_retry_chain(job_id)}"


def first_of_retry_chain(job_id: str) -> str:
    """The job that `job_id` retries, transitively: a retry re-sends only what was not sent."""
    seen = {job_id}
    current = job_id
    owner = (get_registry().get(job_id) or {}).get("owner")
    while (record := get_registry().get(current)) and record.get("retry_of"):
        previous = get_registry().get(record["retry_of"])
        if previous is None or previous.get("owner") != owner or previous["id"] in seen:
            break
        current = previous["id"]
        seen.add(current)
    return current


# ---------------------------------------------------------------------------------------------
# Bulk sends


@dataclass
class Outcome:
    """What happened to one recipient of a bulk send."""

    row: int
    email: str
    status: str  # sent | failed | skipped | deferred
    reason: str = ""
    message_id: str = ""


@dataclass
class BulkRun:
    """One pass over a bulk send's recipients with a single SMTP session."""

    base_key: str
    template: MessageTemplate
    attachments: list[Attachment]
    reply_to: Iterable[str] | str
    limits: dict[str, int]
    listing: RecipientList
    owner: str
    job_id: str = ""  # empty when called directly: nothing to cancel
    outcomes: list[Outcome] = field(default_factory=list, init=False)
    retry_after: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.outcomes = [
            Outcome(r.row, r.value, "skipped", r.reason) for r in self.listing.rejected
        ]

    def send_all(self, task: JobTask) -> None:
        """Every recipient once, over a few reused SMTP sessions; progress after each.

        Thread pools cannot kill a job, so each session checks for a cancel before every
        message (and while the throttle makes it wait); the messages already in flight
        finish and are counted, then the record says how many went out.
        """
        total = len(self.listing.recipients)
        task.progress(0, total, self.progress_line())
        sends = send_parallel(
            self.listing.recipients,
            self.send_one,
            connections=get_settings().email_bulk_connections,
        )
        try:
            with closing(sends):
                for done, (_, outcome) in enumerate(sends, start=1):
                    self.outcomes.append(outcome)
                    self.report(task, done, total)
            if self.cancelled():
                # Cancelled after the last message was handed out: still not a success.
                raise JobCancelled("The job was cancelled.")
        except JobCancelled:
            self.confirm_cancel(total)
            raise

    def cancelled(self) -> bool:
        """True once the user cancelled the job (jobs.cancel has moved it to REVOKED)."""
        return bool(self.job_id) and get_registry().state(self.job_id) == "REVOKED"

    def report(self, task: JobTask, done: int, total: int) -> None:
        """Progress after one message; a cancel is left to the sessions, which stop cleanly."""
        try:
            task.progress(done, total, self.progress_line())
        except JobCancelled:
            # Raising here would close the sends and lose the outcomes still in flight.
            pass

    def confirm_cancel(self, total: int) -> None:
        """The worker's word that it stopped: what was done, on the record jobs.cancel ended."""
        sent = self.counts()["sent"]
        done = len(self.outcomes) - len(self.listing.rejected)
        get_registry().update(
            self.job_id,
            error=f"{sent} of {total} sent before the cancel.",
            progress={"current": done, "total": total, "message": self.progress_line()},
            stopped_at=time.time(),
        )

    def send_one(self, sender: SmtpSender, recipient: Recipient) -> Outcome:
        if self.cancelled():
            raise JobCancelled("The job was cancelled.")  # stops this session's next sends
        try:
            rendered = self.template.render(recipient.context())
            draft = Draft(
                sender=get_settings().mail_from,
                to=[recipient.mailbox],
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                reply_to=self.reply_to,
                attachments=self.attachments,
            )
            outgoing = build_message(draft, f"{self.base_key}:{recipient.email.lower()}")
            sent = deliver_once(sender, outgoing, self.limits, self.owner, self.cancelled)
        except Deferred as exc:
            with self._lock:  # sessions run in threads of their own
                self.retry_after = max(self.retry_after, exc.retry_after or 0.0)
            return Outcome(recipient.row, recipient.email, "deferred", str(exc))
        except PermanentError as exc:
            return Outcome(recipient.row, recipient.email, "failed", str(exc))
        note = "Sent in an earlier attempt." if sent.earlier else ""
        return Outcome(recipient.row, recipient.email, "sent", note, sent.message_id)

    def deferred(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "deferred"]

    def counts(self) -> dict[str, int]:
        counts = {"sent": 0, "failed": 0, "skipped": 0, "deferred": 0}
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    def progress_line(self) -> str:
        c = self.counts()
        return f"{c['sent']} sent, {c['failed'] + c['deferred']} failed, {c['skipped']} skipped"

    def result(self) -> dict:
        """The job's summary; deferred recipients count as failed once no retry is left."""
        for outcome in self.deferred():
            outcome.status = "failed"
        counts = self.counts()
        ordered = sorted(self.outcomes, key=lambda o: (o.status == "sent", o.row))
        return {
            "total": len(self.outcomes),
            "sent": counts["sent"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
            "recipients": [asdict(o) for o in ordered[:RESULT_ROWS]],
            "truncated": len(ordered) > RESULT_ROWS,
            "outcomes_file": OUTCOMES_FILE,
        }


def bulk_recipients(
    job_id: str,
    owner: str,
    recipients: list[str | dict] | None,
    csv_refs: list[dict] | dict | None,
    email_column: str | None,
) -> RecipientList:
    """The recipients of a bulk send, from the given list or the job's CSV file."""
    refs = [csv_refs] if isinstance(csv_refs, dict) else list(csv_refs or [])
    if refs:
        if len(refs) > 1:
            raise PermanentError("Give one CSV file of recipients, not several.")
        listing = load_csv(owned_file(job_id, refs[0], owner), email_column)
    elif recipients:
        listing = from_entries(recipients)
    else:
        raise PermanentError("The bulk send has no recipients: give a list or a CSV file.")
    if not listing.recipients:
        raise PermanentError("None of the recipients has a valid email address.")
    return listing


def check_duration(task: JobTask, count: int, rate_per_minute: int | None) -> None:
    """Refuse a bulk send that cannot finish within the email queue's time limit."""
    limit = task.soft_time_limit
    if not limit:
        return
    rate = min(rate_per_minute or 10**9, get_settings().email_rate_per_minute)
    needed = count / rate * 60
    if needed > limit * 0.9:
        raise PermanentError(
            f"At {rate} messages per minute, {count:,} recipients need about"
            f" {needed / 60:.0f} minutes, longer than the {limit // 60}-minute limit of one"
            " email job. Split the list, or raise the throttle."
        )


def write_outcomes(job_id: str, outcomes: list[Outcome]) -> None:
    """Every recipient's outcome as outcomes.csv in the job's outputs, replaced on each run."""
    buffer = io.StringIO()
    writer = csv_format.writer(buffer)
    writer.writerow(["row", "email", "status", "reason", "message_id"])
    for o in sorted(outcomes, key=lambda o: o.row):
        # A rejected row's email and reason repeat what the uploader typed: never a formula.
        writer.writerow([csv_value(v) for v in (o.row, o.email, o.status, o.reason, o.message_id)])
    folder = storage.outputs_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{OUTCOMES_FILE}.tmp"
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, folder / OUTCOMES_FILE)


# ---------------------------------------------------------------------------------------------
# Owners, files and times


def compose(job_id: str, owner: str, fields: dict[str, Any]) -> Draft:
    """The draft of one message from a task's fields; attachments must be the owner's files."""
    return Draft(
        sender=get_settings().mail_from,
        to=fields.get("to") or (),
        cc=fields.get("cc") or (),
        bcc=fields.get("bcc") or (),
        reply_to=fields.get("reply_to") or (),
        subject=fields.get("subject") or "",
        text=fields.get("text"),
        html=fields.get("html"),
        attachments=attachment_files(job_id, fields.get("attachments"), owner),
    )


def job_owner(job_id: str) -> str:
    """Who submitted the job; attachments may only come from that owner's jobs."""
    record = get_registry().get(job_id) if job_id else None
    return (record or {}).get("owner") or get_settings().default_owner


def owned_file(job_id: str, ref: Any, owner: str) -> Any:
    """The path of a stored file of one of `owner`'s jobs; PermanentError for anything else."""
    if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
        raise PermanentError("A file must be an upload or an output of one of your jobs.")
    parts = PurePosixPath(ref["path"].replace("\\", "/")).parts
    if len(parts) < 4 or parts[0] != "jobs" or parts[2] not in ("in", "out"):
        raise PermanentError("A file must be an upload or an output of one of your jobs.")
    source_job = parts[1]
    if ref.get("job_id") not in (None, "", source_job):
        raise PermanentError("That file does not belong to the job it names.")
    if source_job != job_id:
        record = get_registry().get(source_job)
        if record is None or record.get("owner") != owner:
            raise PermanentError(
                f"{ref.get('name') or parts[-1]} is not a file of one of your jobs."
            )
    return storage.resolve(ref)


def attachment_files(job_id: str, refs: list[dict] | None, owner: str) -> list[Attachment]:
    """The attachments named by `refs`, each checked to come from one of the owner's jobs."""
    files = []
    for ref in refs or []:
        path = owned_file(job_id, ref, owner)
        name = (ref.get("name") or path.name).rsplit("/", 1)[-1]
        files.append(Attachment(filename=name, data=path.read_bytes()))
    return files


def due_time(send_at: str | float, tz_name: str, asked_at: datetime | None = None) -> datetime:
    """When a scheduled email is due, in UTC; a time without offset is read in `tz_name`.

    The time must be later than when the user asked (`asked_at`), not than now: a job that
    waited in a busy queue past its time is still stored, and the dispatcher sends it at once.
    """
    asked_at = asked_at or datetime.now(UTC)
    if isinstance(send_at, str) and not _has_offset(send_at):
        try:
            local = datetime.fromisoformat(send_at)
        except ValueError:
            raise PermanentError(f"{send_at!r} is not a date and time.") from None
        return schedule.due_at(local.date(), local.time(), tz_name, now=asked_at)
    due = schedule.parse_due(send_at)
    if due <= asked_at:
        raise PermanentError("The time to send is in the past.")
    return due


def submitted_at(job_id: str) -> datetime | None:
    """When the job was submitted, or None when it has no record (called directly)."""
    record = get_registry().get(job_id) if job_id else None
    stamp = (record or {}).get("submitted_at")
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


def _has_offset(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
