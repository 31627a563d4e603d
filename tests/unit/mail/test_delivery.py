"""The exactly-once walk, retry chains, schedule ids and bulk limits as pure code: no Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.errors import JobCancelled, PermanentError
from app.mail.bulk import check_duration
from app.mail.delivery import SendGuards, deliver_once, first_of_retry_chain, logical_key
from app.mail.message import Draft, build_message
from app.mail.schedule import due_time
from app.mail.scheduled import schedule_id_for
from app.mail.smtp import Deferred, Delivery
from app.mail.store import Claim

ASKED = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


class MemoryLedger:
    """The send ledger's contract, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> dict | None:
        value = self.values.get(key)
        return value if isinstance(value, dict) else None

    def claim(self, key: str) -> Claim:
        value = self.values.get(key)
        if value is None:
            self.values[key] = "sending"
            return Claim("claimed", token="t")
        return Claim("busy", retry_in=3.0) if value == "sending" else Claim("sent", record=value)

    def mark_sent(self, key: str, owner: str, record: dict) -> None:
        self.values[key] = record

    def release(self, key: str, token: str) -> None:
        self.values.pop(key, None)


class NoWait:
    def wait(self, limits: dict[str, int], cancelled: Any = None) -> float:
        return 0.0


class Sender:
    """Accepts every message, or raises `error`; counts what it was handed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.sent: list[str] = []
        self.error = error

    def send(self, outgoing: Any) -> Delivery:
        if self.error is not None:
            raise self.error
        self.sent.append(outgoing.key)
        return Delivery(outgoing.message_id, tuple(outgoing.recipients), {}, "250 OK")


def guards(ledger: MemoryLedger, taken: list[str], refuse: bool = False) -> SendGuards:
    def take(owner: str) -> None:
        if refuse:
            raise PermanentError("You can send 0 emails a day.")
        taken.append(owner)

    return SendGuards(ledger, NoWait(), take, taken.remove)


def outgoing(key: str = "job:1"):
    draft = Draft(sender="nexus@example.com", to="ann@example.com", subject="Hi", text="x")
    return build_message(draft, key)


def test_a_message_is_sent_once_and_found_sent_after() -> None:
    ledger, taken, sender = MemoryLedger(), [], Sender()
    first = deliver_once(sender, outgoing(), {}, "ann", guards(ledger, taken))
    again = deliver_once(sender, outgoing(), {}, "ann", guards(ledger, taken))
    assert sender.sent == ["job:1"] and taken == ["ann"]
    assert not first.earlier and again.earlier
    assert again.message_id == first.message_id


def test_a_busy_claim_is_deferred_and_sends_nothing() -> None:
    ledger, sender = MemoryLedger(), Sender()
    ledger.values["job:1"] = "sending"
    with pytest.raises(Deferred):
        deliver_once(sender, outgoing(), {}, "ann", guards(ledger, []))
    assert sender.sent == []


def test_a_refused_quota_or_failed_send_gives_the_claim_back() -> None:
    ledger, taken = MemoryLedger(), []
    with pytest.raises(PermanentError, match="0 emails a day"):
        deliver_once(Sender(), outgoing(), {}, "ann", guards(ledger, taken, refuse=True))
    assert ledger.values == {}
    with pytest.raises(OSError):
        deliver_once(Sender(OSError("reset")), outgoing(), {}, "ann", guards(ledger, taken))
    assert ledger.values == {} and taken == []  # the count went back too


def test_a_cancel_during_the_wait_sends_nothing() -> None:
    ledger, sender = MemoryLedger(), Sender()
    with pytest.raises(JobCancelled):
        deliver_once(sender, outgoing(), {}, "ann", guards(ledger, []), lambda: True)
    assert sender.sent == [] and ledger.values == {}


def test_a_retry_chain_is_walked_back_to_its_first_job_of_the_same_owner() -> None:
    records = {
        "a": {"id": "a", "owner": "ann"},
        "b": {"id": "b", "owner": "ann", "retry_of": "a"},
        "c": {"id": "c", "owner": "ann", "retry_of": "b"},
        "x": {"id": "x", "owner": "bob"},
        "y": {"id": "y", "owner": "ann", "retry_of": "x"},
    }
    assert first_of_retry_chain("c", records.get) == "a"
    assert first_of_retry_chain("y", records.get) == "y"  # never into someone else's jobs
    assert logical_key("c", None, "ann", records.get) == "job:a"
    assert logical_key("c", "k1", "ann", records.get) == "key:ann:k1"


def test_a_schedule_id_follows_the_owners_key() -> None:
    assert schedule_id_for("job-1", "ann", None) == "job-1"
    assert schedule_id_for("job-1", "ann", "k") == schedule_id_for("job-2", "ann", "k")
    assert schedule_id_for("job-1", "ann", "k") != schedule_id_for("job-1", "bob", "k")


def test_a_due_time_is_judged_against_when_it_was_asked_for() -> None:
    assert due_time("2027-03-01T14:30", "Europe/Paris", ASKED) == datetime(
        2027, 3, 1, 13, 30, tzinfo=UTC
    )
    assert due_time("2027-03-01T13:00:00+00:00", "UTC", ASKED).hour == 13
    with pytest.raises(PermanentError, match="in the past"):
        due_time("2027-03-01T11:00:00+00:00", "UTC", ASKED)
    with pytest.raises(PermanentError, match="is not a date and time"):
        due_time("soon", "UTC", ASKED)


def test_a_bulk_send_too_long_for_the_time_limit_is_refused() -> None:
    check_duration(10_000, 60, None)  # no limit, nothing to refuse
    with pytest.raises(PermanentError, match="Split the list"):
        check_duration(10_000, 60, 600)
