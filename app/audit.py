"""The audit log: who did what to which thing, when and from where, in one Redis stream.

    audit.record(user, "job.cancel", job_id, client=client_address())
    audit.search(actor="alice@example.com", user=admin).entries

The stream (`<registry_prefix>:audit`) is append-only: nothing here edits or deletes an entry,
and every XADD trims entries older than the retention (MINID), so the log never outgrows it.
Recording never raises: an audit hiccup must not undo or block the action it describes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from app.auth import NotAllowed, User
from app.connection import get_redis
from app.settings import get_settings

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
SCAN_BATCH = 500
MAX_SCAN = 20_000
MAX_FIELD = 500

# The actions the platform records, for the page's picker; record() accepts any name.
ACTIONS = (
    "sign-in", "sign-in.refused", "job.submit", "job.cancel", "job.retry", "job.dismiss",
    "file.download", "file.delete", "queue.purge", "report-schedule.create",
    "report-schedule.pause", "report-schedule.resume", "report-schedule.delete",
    "email.schedule.cancel", "admin.quota.set", "admin.quota.clear",
)


@dataclass(frozen=True)
class Entry:
    """One audit entry; `id` is its stream id, which orders entries and pages through them."""

    id: str
    at: float
    actor: str
    action: str
    target: str = ""
    detail: str = ""
    client: str = ""

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at).astimezone()


@dataclass
class AuditPage:
    """Entries newest first; pass `next_before` as `before` for the next page (None: no more)."""

    entries: list[Entry]
    next_before: str | None
    scanned: int = 0
    notes: list[str] = field(default_factory=list)


def key() -> str:
    return f"{get_settings().registry_prefix}:audit"


def _actor(user_or_id: User | str | None) -> str:
    if isinstance(user_or_id, User):
        return user_or_id.id
    return str(user_or_id or "")


def _clip(value: Any) -> str:
    text = str(value or "")
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"


def record(
    user_or_id: User | str | None,
    action: str,
    target: str = "",
    detail: str = "",
    client: str = "",
) -> str | None:
    """Append one entry and return its id; None (and a logged warning) when Redis failed."""
    now_ms = int(time.time() * 1000)
    entry = {
        "actor": _clip(_actor(user_or_id)), "action": _clip(action), "target": _clip(target),
        "detail": _clip(detail), "client": _clip(client), "at": repr(now_ms / 1000),
    }
    cutoff = now_ms - get_settings().retention_days * DAY_MS
    try:
        return get_redis().xadd(key(), entry, minid=cutoff, approximate=True)
    except (redis.RedisError, OSError):
        log.warning("Could not write the audit entry %s %s", action, target, exc_info=True)
        return None


def record_many(
    user_or_id: User | str | None,
    action: str,
    entries: Iterable[tuple[str, str]],
    client: str = "",
) -> None:
    """Append one entry per (target, detail), in one round trip; logged, never raised, on error."""
    now_ms = int(time.time() * 1000)
    actor, cutoff = _clip(_actor(user_or_id)), now_ms - get_settings().retention_days * DAY_MS
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for target, detail in entries:
                pipe.xadd(key(), {
                    "actor": actor, "action": _clip(action), "target": _clip(target),
                    "detail": _clip(detail), "client": _clip(client), "at": repr(now_ms / 1000),
                }, minid=cutoff, approximate=True)
            pipe.execute()
    except (redis.RedisError, OSError):
        log.warning("Could not write the audit entries %s", action, exc_info=True)


def record_sign_in(email_or_user: User | str, client: str = "", refused: str = "") -> None:
    """A sign-in, or with `refused` (the reason shown to the person) a refused one."""
    if refused:
        record(email_or_user, "sign-in.refused", detail=refused, client=client)
    else:
        record(email_or_user, "sign-in", client=client)


def trim(now: float | None = None) -> int:
    """Drop entries older than the retention; the maintenance step for a quiet log."""
    now_ms = int((time.time() if now is None else now) * 1000)
    cutoff = now_ms - get_settings().retention_days * DAY_MS
    return int(get_redis().xtrim(key(), minid=cutoff))


def _decode(entry_id: str, raw: dict[str, str]) -> Entry:
    return Entry(
        id=entry_id, at=float(raw.get("at") or int(entry_id.split("-")[0]) / 1000),
        actor=raw.get("actor", ""), action=raw.get("action", ""), target=raw.get("target", ""),
        detail=raw.get("detail", ""), client=raw.get("client", ""),
    )


def _newest_first(start: str, end: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Stream entries from `start` (inclusive or '(' exclusive) back to `end`, in batches."""
    client = get_redis()
    while True:
        rows = client.xrevrange(key(), max=start, min=end, count=SCAN_BATCH)
        yield from rows
        if len(rows) < SCAN_BATCH:
            return
        start = f"({rows[-1][0]}"


def _matches(entry: Entry, text: str | None, actor: str | None, action: str | None) -> bool:
    if actor and entry.actor != actor.strip().lower():
        return False
    if action and entry.action != action:
        return False
    if text:
        haystack = " ".join((entry.actor, entry.action, entry.target, entry.detail, entry.client))
        return text.casefold() in haystack.casefold()
    return True


def _bound(moment: datetime | float | None, default: str) -> str:
    if moment is None:
        return default
    seconds = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return str(int(seconds * 1000))


def search(
    text: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    limit: int = 50,
    before: str | None = None,
    *,
    user: User,
) -> AuditPage:
    """Entries matching every filter given, newest first; admins only (NotAllowed otherwise).

    The time range is a range read of the stream; text, actor and action filter what it returns,
    looking at most MAX_SCAN entries per page.
    """
    if not user.is_admin:
        raise NotAllowed("Only an admin can read the audit log.")
    start = f"({before}" if before else _bound(until, "+")
    end = _bound(since, "-")
    found: list[Entry] = []
    scanned = 0
    last_id: str | None = None
    for entry_id, raw in _newest_first(start, end):
        scanned += 1
        last_id = entry_id
        entry = _decode(entry_id, raw)
        if _matches(entry, text, actor, action):
            found.append(entry)
        if len(found) == limit or scanned >= MAX_SCAN:
            break
    more = last_id is not None and (len(found) == limit or scanned >= MAX_SCAN)
    notes = [f"This page looked at {MAX_SCAN:,} entries; go on for older ones."] * (
        scanned >= MAX_SCAN
    )
    return AuditPage(found, last_id if more else None, scanned, notes)
