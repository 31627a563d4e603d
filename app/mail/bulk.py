"""Bulk sends: one personalised message per recipient, each sent once, over a few sessions.

An SMTP transaction is a handful of round trips, so one session spends most of its time waiting
for the server; a few sessions side by side keep the line busy. Each session lives in its own
thread with its own SmtpSender (`send_parallel`). `BulkRun` is one pass of a bulk job over its
recipients on top of it: every message goes through the send ledger, and every recipient ends
with an `Outcome` (sent, failed, skipped, or deferred for a retry).
"""

from __future__ import annotations

import csv
import io
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from app import storage
from app.errors import JobCancelled, PermanentError
from app.mail.compose import OwnedFiles
from app.mail.delivery import SendGuards, deliver_once
from app.mail.message import Attachment, Draft, build_message
from app.mail.recipients import Recipient, RecipientList, from_entries, load_csv
from app.mail.render import MessageTemplate
from app.mail.smtp import Deferred, SmtpConfig, SmtpSender
from app.reports.cells import csv_value
from app.settings import get_settings

T = TypeVar("T")
R = TypeVar("R")
_FINISHED = object()
OUTCOMES_FILE = "outcomes.csv"
RESULT_ROWS = 200

# How far a job has got: (current, total, message); raises JobCancelled once it is cancelled.
Progress = Callable[[int, int, str], None]


def send_parallel(
    items: Iterable[T],
    send: Callable[[SmtpSender, T], R],
    config: SmtpConfig | None = None,
    connections: int = 1,
) -> Iterator[tuple[T, R]]:
    """Yield (item, send(sender, item)) as each finishes, over at most `connections` sessions.

    The first exception `send` raises stops handing out items; once the sends in flight have
    ended it is raised to the caller. Closing the generator early stops the same way. Sessions
    run at most two items per connection ahead of the caller, so a slow caller that stops early
    has not sent the rest behind its back.
    """
    source = iter(items)
    take = threading.Lock()
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    sessions = max(1, connections)
    headroom = threading.Semaphore(2 * sessions)

    def wait_for_headroom() -> bool:
        while not headroom.acquire(timeout=0.05):
            if stop.is_set():
                return False
        return not stop.is_set()

    def session() -> None:
        try:
            with SmtpSender(config) as sender:
                while wait_for_headroom():
                    with take:
                        item = next(source, _FINISHED)
                    if item is _FINISHED:
                        return
                    try:
                        results.put((item, send(sender, item), None))
                    except BaseException as exc:
                        results.put((item, None, exc))
                        stop.set()
                        return
        finally:
            results.put(_FINISHED)

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    yield from _collect(results, len(threads), stop, threads, headroom)


def _collect(
    results: queue.Queue,
    sessions: int,
    stop: threading.Event,
    threads: list[threading.Thread],
    headroom: threading.Semaphore,
) -> Iterator[tuple]:
    error: BaseException | None = None
    ended = 0
    try:
        while ended < sessions:
            entry = results.get()
            if entry is _FINISHED:
                ended += 1
            elif entry[2] is not None:
                error = error or entry[2]
            else:
                yield entry[0], entry[1]
                headroom.release()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if error is not None:
        raise error


# ---------------------------------------------------------------------------------------------
# One bulk job's pass over its recipients


@dataclass
class Outcome:
    """What happened to one recipient of a bulk send."""

    row: int
    email: str
    status: str  # sent | failed | skipped | deferred
    reason: str = ""
    message_id: str = ""


def _never() -> bool:
    return False


@dataclass
class BulkRun:
    """One pass over a bulk send's recipients with a few reused SMTP sessions.

    `cancelled()` says whether the user cancelled the job; called directly, nothing can.
    """

    base_key: str
    template: MessageTemplate
    attachments: list[Attachment]
    reply_to: Iterable[str] | str
    limits: dict[str, int]
    listing: RecipientList
    owner: str
    guards: SendGuards
    cancelled: Callable[[], bool] = _never
    outcomes: list[Outcome] = field(default_factory=list, init=False)
    retry_after: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.outcomes = [
            Outcome(r.row, r.value, "skipped", r.reason) for r in self.listing.rejected
        ]

    @property
    def total(self) -> int:
        """How many recipients get a message (rejected rows are not counted)."""
        return len(self.listing.recipients)

    def send_all(self, progress: Progress, on_cancel: Callable[[dict[str, Any]], None]) -> None:
        """Every recipient once, `progress` after each; JobCancelled once the job is cancelled.

        Thread pools cannot kill a job, so each session checks for a cancel before every
        message (and while the throttle makes it wait); the messages already in flight
        finish and are counted, then `on_cancel` gets the record fields that say how many
        went out (`stopped()`) before JobCancelled reaches the caller.
        """
        progress(0, self.total, self.progress_line())
        sends = send_parallel(
            self.listing.recipients,
            self.send_one,
            connections=get_settings().email_bulk_connections,
        )
        try:
            with closing(sends):
                for done, (_, outcome) in enumerate(sends, start=1):
                    self.outcomes.append(outcome)
                    self.report(progress, done)
            if self.cancelled():
                # Cancelled after the last message was handed out: still not a success.
                raise JobCancelled("The job was cancelled.")
        except JobCancelled:
            on_cancel(self.stopped())
            raise

    def report(self, progress: Progress, done: int) -> None:
        """Progress after one message; a cancel is left to the sessions, which stop cleanly."""
        try:
            progress(done, self.total, self.progress_line())
        except JobCancelled:
            # Raising here would close the sends and lose the outcomes still in flight.
            pass

    def stopped(self) -> dict[str, Any]:
        """The record fields that say what a cancelled run did before it stopped."""
        sent = self.counts()["sent"]
        done = len(self.outcomes) - len(self.listing.rejected)
        return {
            "error": f"{sent} of {self.total} sent before the cancel.",
            "progress": {"current": done, "total": self.total, "message": self.progress_line()},
            "stopped_at": time.time(),
        }

    def send_one(self, sender: SmtpSender, recipient: Recipient) -> Outcome:
        """One recipient's message, sent once; its outcome (a session's unit of work)."""
        if self.cancelled():
            raise JobCancelled("The job was cancelled.")  # stops this session's next sends
        try:
            outgoing = build_message(
                self.draft_for(recipient), f"{self.base_key}:{recipient.email.lower()}"
            )
            sent = deliver_once(
                sender, outgoing, self.limits, self.owner, self.guards, self.cancelled
            )
        except Deferred as exc:
            with self._lock:  # sessions run in threads of their own
                self.retry_after = max(self.retry_after, exc.retry_after or 0.0)
            return Outcome(recipient.row, recipient.email, "deferred", str(exc))
        except PermanentError as exc:
            return Outcome(recipient.row, recipient.email, "failed", str(exc))
        note = "Sent in an earlier attempt." if sent.earlier else ""
        return Outcome(recipient.row, recipient.email, "sent", note, sent.message_id)

    def draft_for(self, recipient: Recipient) -> Draft:
        """The template rendered for one recipient; PermanentError when it cannot be."""
        rendered = self.template.render(recipient.context())
        return Draft(
            sender=get_settings().mail_from,
            to=[recipient.mailbox],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            reply_to=self.reply_to,
            attachments=self.attachments,
        )

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
    files: OwnedFiles,
    recipients: list[str | dict] | None,
    csv_refs: list[dict] | dict | None,
    email_column: str | None,
) -> RecipientList:
    """The recipients of a bulk send, from the given list or the job's CSV file."""
    refs = [csv_refs] if isinstance(csv_refs, dict) else list(csv_refs or [])
    if refs:
        if len(refs) > 1:
            raise PermanentError("Give one CSV file of recipients, not several.")
        listing = load_csv(files.path(refs[0]), email_column)
    elif recipients:
        listing = from_entries(recipients)
    else:
        raise PermanentError("The bulk send has no recipients: give a list or a CSV file.")
    if not listing.recipients:
        raise PermanentError("None of the recipients has a valid email address.")
    return listing


def check_duration(count: int, rate_per_minute: int | None, time_limit: int | None) -> None:
    """Refuse a bulk send that cannot finish within `time_limit` seconds (None: no limit)."""
    if not time_limit:
        return
    rate = min(rate_per_minute or 10**9, get_settings().email_rate_per_minute)
    needed = count / rate * 60
    if needed > time_limit * 0.9:
        raise PermanentError(
            f"At {rate} messages per minute, {count:,} recipients need about"
            f" {needed / 60:.0f} minutes, longer than the {time_limit // 60}-minute limit of"
            " one email job. Split the list, or raise the throttle."
        )


def write_outcomes(job_id: str, outcomes: list[Outcome]) -> None:
    """Every recipient's outcome as outcomes.csv in the job's outputs, replaced on each run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "email", "status", "reason", "message_id"])
    for o in sorted(outcomes, key=lambda o: o.row):
        # A rejected row's email and reason repeat what the uploader typed: never a formula.
        writer.writerow([csv_value(v) for v in (o.row, o.email, o.status, o.reason, o.message_id)])
    folder = storage.outputs_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{OUTCOMES_FILE}.tmp"
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, folder / OUTCOMES_FILE)
