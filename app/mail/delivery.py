"""Exactly-once delivery: every logical message is sent at most once, whoever sends it.

A message's logical key (the owner's idempotency key, else the first job of its retry chain,
plus the recipient for bulk sends) fixes its Message-ID and names it in the send ledger. A send
looks the key up, waits for its throttle slot, claims the key, counts it against the owner's
quota, sends, and marks the key sent; a failed send gives the claim and the count back. So a
retried, redelivered or re-run job never sends the same message twice.

The shared state (ledger, throttle, quota) comes in as `SendGuards`, built by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import JobCancelled, PermanentError
from app.mail.message import OutgoingMessage
from app.mail.smtp import Deferred, SmtpSender
from app.settings import get_settings

if TYPE_CHECKING:
    from app.mail.store import SendLedger, Throttle

# A job's record by id, or None: how the retry chain is walked without reaching for Redis.
RecordLookup = Callable[[str], dict[str, Any] | None]


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


@dataclass(frozen=True)
class SendGuards:
    """What every send consults: the ledger (sent once), the throttle (pace), the daily quota.

    `take_quota(owner)` counts one message or raises PermanentError when the day's quota is
    used up; `give_back_quota(owner)` returns a count whose message was not sent.
    """

    ledger: SendLedger
    throttle: Throttle
    take_quota: Callable[[str], None]
    give_back_quota: Callable[[str], None]


def global_limits(job_rate: int | None = None, job_id: str | None = None) -> dict[str, int]:
    """The throttle limits for a send: the platform-wide one, plus the job's own if it set one."""
    limits = {"global": get_settings().email_rate_per_minute}
    if job_rate and job_id:
        limits[f"job:{job_id}"] = job_rate
    return limits


def deliver_once(
    sender: SmtpSender,
    outgoing: OutgoingMessage,
    limits: dict[str, int],
    owner: str,
    guards: SendGuards,
    cancelled: Callable[[], bool] | None = None,
) -> Sent:
    """Send `outgoing` unless its key is already in the ledger; raises the classified error.

    With `cancelled`, a cancel noticed during the throttle's wait raises JobCancelled before
    anything is claimed or sent.
    """
    ledger = guards.ledger
    if (record := ledger.get(outgoing.key)) is not None:
        return _sent_earlier(outgoing, record)
    guards.throttle.wait(limits, cancelled)
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
        guards.take_quota(owner)  # counted before sending, given back if it fails
    except PermanentError:
        ledger.release(outgoing.key, claim.token)
        raise
    try:
        delivery = sender.send(outgoing)
    except BaseException:
        guards.give_back_quota(owner)
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


def logical_key(
    job_id: str, idempotency_key: str | None, owner: str, record_of: RecordLookup
) -> str:
    """The key of a job's message: the owner's own key, else the first job of its retry chain.

    Keys are scoped by owner: someone else's idempotency key names a different message.
    """
    if idempotency_key:
        return f"key:{owner}:{idempotency_key}"
    return f"job:{first_of_retry_chain(job_id, record_of)}"


def first_of_retry_chain(job_id: str, record_of: RecordLookup) -> str:
    """The job that `job_id` retries, transitively: a retry re-sends only what was not sent."""
    seen = {job_id}
    current = job_id
    owner = (record_of(job_id) or {}).get("owner")
    while (record := record_of(current)) and record.get("retry_of"):
        previous = record_of(record["retry_of"])
        if previous is None or previous.get("owner") != owner or previous["id"] in seen:
            break
        current = previous["id"]
        seen.add(current)
    return current
