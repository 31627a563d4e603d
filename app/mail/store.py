"""The mail package's Redis store: the one module of app/mail that talks to Redis.

Email state that every worker shares and that outlives them:

- `SendLedger`: one record per logical message. A send first claims the message atomically
  (SET NX with a lease), then marks it sent; a retried or redelivered task finds the record and
  does not send again.
- `Throttle`: a global pace in messages per minute, shared by all workers (GCRA on Redis time).
- `ScheduleStore`: scheduled emails as a sorted set by due time plus one hash per email. Beat's
  dispatcher claims due entries with a lease, queues them, then marks them dispatched, so a
  crash between the two re-dispatches instead of losing the email. Nothing relies on a
  far-future ETA, which Redis would deliver twice once the visibility timeout passed.

Each class takes the Redis client it uses; callers pass `app.connection.get_redis()`, and
the platform's client stands in when none is given (scripts, tests). Nothing here imports
Celery or Streamlit.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from app.connection import get_redis
from app.settings import get_settings

DAY = 86400
# How often a throttled send looks for a cancel while it waits for its slot.
WAIT_SLICE = 0.25


def _prefix() -> str:
    return f"{get_settings().registry_prefix}:mail"


# ---------------------------------------------------------------------------------------------
# Exactly once: the send ledger


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to claim a message: ours to send, already sent, or busy elsewhere."""

    status: str  # "claimed" | "sent" | "busy"
    token: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    retry_in: float = 0.0  # seconds until a busy claim's lease runs out


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SendLedger:
    """Which logical messages were sent, so none is sent twice."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.redis = client or get_redis()
        self._release = self.redis.register_script(_RELEASE)

    def key(self, message_key: str) -> str:
        digest = hashlib.sha256(message_key.encode("utf-8")).hexdigest()
        return f"{_prefix()}:sent:{digest}"

    def lease_seconds(self) -> int:
        """How long a claim lasts: longer than any SMTP transaction can take."""
        return int(4 * get_settings().smtp_timeout + 5)

    def claim(self, message_key: str) -> Claim:
        """Atomically take the right to send `message_key`, unless it is sent or being sent."""
        key, token = self.key(message_key), uuid.uuid4().hex
        if self.redis.set(key, f"sending:{token}", nx=True, ex=self.lease_seconds()):
            return Claim("claimed", token=token)
        value, ttl = self.redis.get(key), self.redis.ttl(key)
        if value is None:
            return Claim("busy", retry_in=0.1)  # released between our two reads
        if value.startswith("sending:"):
            return Claim("busy", retry_in=float(max(ttl, 1)))
        return Claim("sent", record=json.loads(value))

    def mark_sent(self, message_key: str, owner: str, record: dict[str, Any]) -> None:
        """Record that the server accepted `message_key` for `owner`, as long as jobs are kept."""
        value = json.dumps({**record, "sent_at": time.time()})
        keep = get_settings().retention_days * DAY
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key(message_key), value, ex=keep)
            if record.get("message_id"):
                pipe.sadd(self.sent_by_key(owner), record["message_id"])
                pipe.expire(self.sent_by_key(owner), keep)
            pipe.execute()

    def sent_by_key(self, owner: str) -> str:
        return f"{_prefix()}:sent-by:{owner}"

    def sent_by(self, owner: str, message_ids: list[str]) -> set[str]:
        """Those of `message_ids` that a job of `owner` sent: what their local inbox shows."""
        if not message_ids:
            return set()
        found = self.redis.smismember(self.sent_by_key(owner), message_ids)
        return {mid for mid, hit in zip(message_ids, found) if hit}

    def release(self, message_key: str, token: str) -> None:
        """Give a claim back after a failed attempt, so a retry may send."""
        self._release(keys=[self.key(message_key)], args=[f"sending:{token}"])

    def get(self, message_key: str) -> dict[str, Any] | None:
        """The sent record of `message_key`, or None when it was not (yet) sent."""
        value = self.redis.get(self.key(message_key))
        return json.loads(value) if value and not value.startswith("sending:") else None


# ---------------------------------------------------------------------------------------------
# The global throttle

# Generic cell rate algorithm over several keys at once: the send happens at the earliest time
# every key allows, and each key's theoretical arrival time moves one interval past it.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local send_at = now
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat > send_at then send_at = tat end
end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if send_at > tat then tat = send_at end
  tat = tat + interval
  redis.call('SET', key, tat, 'PX', tat - now + 60000)
end
return send_at - now
"""


class Throttle:
    """Messages per minute across all workers: each send reserves the next free slot."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.redis = client or get_redis()
        self._reserve = self.redis.register_script(_RESERVE)

    def reserve(self, limits: dict[str, int]) -> float:
        """Reserve one send under every `name -> messages per minute` limit; seconds to wait."""
        keys = [f"{_prefix()}:throttle:{name}" for name in limits]
        intervals = [max(1, round(60000 / max(1, rate))) for rate in limits.values()]
        return int(self._reserve(keys=keys, args=intervals)) / 1000.0

    def wait(
        self, limits: dict[str, int], cancelled: Callable[[], bool] | None = None
    ) -> float:
        """Block until one send is allowed under every limit; returns the seconds waited.

        A slot can be a minute away, so the wait is sliced: it ends early once `cancelled()`
        is true, and the caller checks again before it sends.
        """
        delay = self.reserve(limits)
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if cancelled is not None and cancelled():
                break
            time.sleep(min(WAIT_SLICE, left))
        return delay


# ---------------------------------------------------------------------------------------------
# Scheduled emails

SCHEDULED, DISPATCHING, DISPATCHED, CANCELLED = (
    "scheduled",
    "dispatching",
    "dispatched",
    "cancelled",
)

# Due entries are pushed one lease into the future and marked dispatching: if the dispatcher
# dies before marking them dispatched, they come due again instead of being lost.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(ids) do
  local key = ARGV[4] .. id
  local state = redis.call('HGET', key, 'state')
  if state == 'scheduled' or state == 'dispatching' then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
    redis.call('HSET', key, 'state', 'dispatching')
    redis.call('HINCRBY', key, 'attempts', 1)
    table.insert(claimed, id)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
"""

_MARK_DISPATCHED = """
if redis.call('HGET', KEYS[2], 'state') ~= 'dispatching' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'dispatched', 'job_id', ARGV[2], 'dispatched_at', ARGV[3])
return 1
"""

_CANCEL = """
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return 'missing' end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], 'owner') ~= ARGV[2] then return 'missing' end
if state ~= 'scheduled' then return state end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'cancelled', 'cancelled_at', ARGV[3])
return 'cancelled'
"""


@dataclass
class ScheduledEmail:
    """One scheduled email as stored: when, for whom, what, and how far it got."""

    id: str
    owner: str
    due_at: float
    timezone: str
    subject: str
    recipients: str
    params: dict[str, Any]
    state: str = SCHEDULED
    created_at: float = 0.0
    schedule_job_id: str = ""
    job_id: str = ""
    dispatched_at: float | None = None
    cancelled_at: float | None = None
    attempts: int = 0

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> ScheduledEmail:
        def number(name: str) -> float | None:
            return float(raw[name]) if raw.get(name) else None

        return cls(
            id=raw["id"],
            owner=raw.get("owner", ""),
            due_at=float(raw["due_at"]),
            timezone=raw.get("timezone", "UTC"),
            subject=raw.get("subject", ""),
            recipients=raw.get("recipients", ""),
            params=json.loads(raw.get("params") or "{}"),
            state=raw.get("state", SCHEDULED),
            created_at=number("created_at") or 0.0,
            schedule_job_id=raw.get("schedule_job_id", ""),
            job_id=raw.get("job_id", ""),
            dispatched_at=number("dispatched_at"),
            cancelled_at=number("cancelled_at"),
            attempts=int(raw.get("attempts") or 0),
        )

    def to_hash(self) -> dict[str, str]:
        return {
            "id": self.id,
            "owner": self.owner,
            "due_at": repr(self.due_at),
            "timezone": self.timezone,
            "subject": self.subject,
            "recipients": self.recipients,
            "params": json.dumps(self.params),
            "state": self.state,
            "created_at": repr(self.created_at),
            "schedule_job_id": self.schedule_job_id,
            "job_id": self.job_id,
            "attempts": str(self.attempts),
        }


class ScheduleStore:
    """Durable scheduled emails: add, list, cancel, and claim the due ones for dispatch."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.redis = client or get_redis()
        self._claim_due = self.redis.register_script(_CLAIM_DUE)
        self._mark_dispatched = self.redis.register_script(_MARK_DISPATCHED)
        self._cancel = self.redis.register_script(_CANCEL)

    @property
    def due_key(self) -> str:
        return f"{_prefix()}:schedule:due"

    def owner_key(self, owner: str) -> str:
        return f"{_prefix()}:schedule:owner:{owner}"

    @property
    def all_key(self) -> str:
        return f"{_prefix()}:schedule:all"

    def entry_key(self, schedule_id: str) -> str:
        return f"{self._entry_prefix}{schedule_id}"

    @property
    def _entry_prefix(self) -> str:
        return f"{_prefix()}:scheduled:"

    def add(self, entry: ScheduledEmail) -> ScheduledEmail:
        """Store `entry` and its indexes in one transaction; an id already stored is kept."""
        entry.created_at = entry.created_at or time.time()
        if not self.redis.hsetnx(self.entry_key(entry.id), "id", entry.id):
            return self.get(entry.id) or entry
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.entry_key(entry.id), mapping=entry.to_hash())
            pipe.zadd(self.due_key, {entry.id: entry.due_at})
            pipe.zadd(self.all_key, {entry.id: entry.due_at})
            pipe.zadd(self.owner_key(entry.owner), {entry.id: entry.due_at})
            pipe.execute()
        return entry

    def get(self, schedule_id: str) -> ScheduledEmail | None:
        raw = self.redis.hgetall(self.entry_key(schedule_id))
        return ScheduledEmail.from_hash(raw) if raw.get("due_at") else None

    def list(self, owner: str | None = None, limit: int = 200) -> list[ScheduledEmail]:
        """Scheduled emails, the soonest due first; every owner's when `owner` is None."""
        index = self.owner_key(owner) if owner else self.all_key
        ids = self.redis.zrange(index, 0, limit - 1)
        with self.redis.pipeline(transaction=False) as pipe:
            for schedule_id in ids:
                pipe.hgetall(self.entry_key(schedule_id))
            rows = pipe.execute()
        # An entry is complete once it has a due time; `add` writes its id a moment earlier.
        return [ScheduledEmail.from_hash(raw) for raw in rows if raw.get("due_at")]

    def cancel(self, schedule_id: str, owner: str | None = None) -> str:
        """Cancel a pending email; returns 'cancelled', or the state that prevented it."""
        keys = [self.due_key, self.entry_key(schedule_id)]
        return self._cancel(keys=keys, args=[schedule_id, owner or "", repr(time.time())])

    def claim_due(
        self, now: float | None = None, limit: int = 100, lease: float = 60.0
    ) -> list[ScheduledEmail]:
        """The due emails, each leased to the caller for `lease` seconds."""
        now = time.time() if now is None else now
        args = [repr(now), limit, repr(lease), self._entry_prefix]
        ids = self._claim_due(keys=[self.due_key], args=args)
        return [e for e in (self.get(i) for i in ids) if e is not None]

    def mark_dispatched(self, schedule_id: str, job_id: str) -> bool:
        """Record that `schedule_id` went to the queue as job `job_id`."""
        keys = [self.due_key, self.entry_key(schedule_id)]
        return bool(self._mark_dispatched(keys=keys, args=[schedule_id, job_id, repr(time.time())]))

    def pending(self, batch: int = 500) -> Iterator[ScheduledEmail]:
        """Every email not yet sent (scheduled or being dispatched), in due order."""
        start = 0
        while ids := self.redis.zrange(self.due_key, start, start + batch - 1):
            for entry in (self.get(i) for i in ids):
                if entry and entry.state in (SCHEDULED, DISPATCHING):
                    yield entry
            start += batch

    def next_due(self) -> float | None:
        """When the next pending email is due, or None when none is."""
        first = self.redis.zrange(self.due_key, 0, 0, withscores=True)
        return first[0][1] if first else None

    def purge(self, older_than: float) -> int:
        """Forget dispatched and cancelled emails due before `older_than`."""
        ids = self.redis.zrangebyscore(self.all_key, "-inf", older_than, start=0, num=500)
        gone = 0
        for entry in (self.get(i) for i in ids):
            if entry and entry.state in (DISPATCHED, CANCELLED):
                with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(self.entry_key(entry.id))
                    pipe.zrem(self.all_key, entry.id)
                    pipe.zrem(self.owner_key(entry.owner), entry.id)
                    pipe.execute()
                gone += 1
        return gone
