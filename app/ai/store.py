"""The AI area's store in Redis: the cross-worker rate limiter, conversations and usage per day.

The only module of app/ai that touches Redis. Each function takes a client (`client=`; the
process-wide one from app.connection when omitted) and none imports Celery or Streamlit.
Celery's own rate_limit counts per worker; a provider's limits hold for the whole account, so
every worker and thread takes its requests and tokens from one sliding window in Redis.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from app.ai.types import Usage
from app.connection import get_redis
from app.errors import PermanentError, TransientError
from app.settings import get_settings

# Sliding window over a sorted set: one member per request ("<id>|<tokens>", scored by time).
# Returns "0" when the request was admitted, else the seconds until it could be.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local max_requests = tonumber(ARGV[2])
local max_tokens = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local count = #entries / 2
local sizes = {}
local used = 0
for i = 1, #entries, 2 do
  local size = tonumber(string.match(entries[i], '|(%d+)$')) or 0
  sizes[#sizes + 1] = size
  used = used + size
end
local wait = 0
if count >= max_requests then
  local oldest_needed = (count - max_requests) * 2 + 2
  wait = tonumber(entries[oldest_needed]) + window - now
end
-- a request bigger than the whole token budget still runs once the window is empty
if count > 0 and used + want > max_tokens then
  local need = used + want - max_tokens
  local freed = 0
  local until_free = tonumber(entries[#entries]) + window - now
  for i = 1, count do
    freed = freed + sizes[i]
    if freed >= need then
      until_free = tonumber(entries[i * 2]) + window - now
      break
    end
  end
  if until_free > wait then wait = until_free end
end
if wait > 0 then return tostring(wait) end
redis.call('ZADD', KEYS[1], now, ARGV[5] .. '|' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return '0'
"""

# Replaces a reservation's token count with what the call really used, keeping its time.
_SETTLE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], score, ARGV[2])
return 1
"""

# Appends one chat turn unless that turn was stored already (a redelivered task).
_APPEND_TURN = """
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], 'provider', ARGV[5], 'model', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'turns', 1)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[7])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[8]) end
return 1
"""

# What callers pass as `client`, so the rest of the package never imports redis itself.
Client = redis.Redis

USAGE_METRICS = ("requests", "input_tokens", "output_tokens", "cached_tokens")
USAGE_TTL = 400 * 86400
MICRO = 1_000_000


def _prefix() -> str:
    return f"{get_settings().registry_prefix}:ai"


# rate limiter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """A request admitted by the limiter, to be settled with the tokens it really used."""

    key: str
    member: str


class RateLimiter:
    """Requests and tokens per window per provider, shared by every process through Redis.

    `reserve` admits a request or sleeps until the window has room (never spinning); when
    the wait would exceed `max_wait` it raises TransientError so the job retries later instead.
    `interrupt` is called while it sleeps and may raise, to stop a cancelled job's wait;
    `on_wait(seconds)` is told before each wait, so the job can say why it is not moving.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        requests: int | None = None,
        tokens: int | None = None,
        window: float = 60.0,
        max_wait: float = 30.0,
        interrupt: Callable[[], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        settings = get_settings()
        self.redis = client or get_redis()
        self.requests = requests or settings.ai_requests_per_minute
        self.tokens = tokens or settings.ai_tokens_per_minute
        self.window = window
        self.max_wait = max_wait
        self.interrupt = interrupt
        self.on_wait = on_wait
        self._reserve = self.redis.register_script(_RESERVE)
        self._settle = self.redis.register_script(_SETTLE)

    def key(self, provider: str) -> str:
        return f"{_prefix()}:rate:{provider}"

    def try_reserve(self, provider: str, tokens: int) -> tuple[Reservation | None, float]:
        """Admit at once if the window has room: (reservation, 0), else (None, seconds to wait)."""
        member = uuid.uuid4().hex
        size = max(0, int(tokens))
        args = [self.window, self.requests, self.tokens, size, member]
        wait = float(self._reserve(keys=[self.key(provider)], args=args))
        if wait > 0:
            return None, wait
        return Reservation(self.key(provider), f"{member}|{size}"), 0.0

    def reserve(self, provider: str, tokens: int) -> Reservation:
        deadline = time.monotonic() + self.max_wait
        while True:
            reservation, wait = self.try_reserve(provider, tokens)
            if reservation is not None:
                return reservation
            if time.monotonic() + wait > deadline:
                raise TransientError(
                    f"The shared AI rate limit for {provider} ({self.requests} requests and "
                    f"{self.tokens:,} tokens {self._per()}) is reached; the job continues in "
                    f"about {wait:.0f} s.",
                    retry_after=wait,
                )
            if self.on_wait:
                self.on_wait(wait)
            # Sleep until the window frees a slot; the jitter stops waiters waking in lockstep.
            self._sleep(wait + random.uniform(0.0, 0.05))

    def _sleep(self, seconds: float) -> None:
        """Sleep, calling `interrupt` about once a second so a cancelled job stops waiting."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.interrupt:
                self.interrupt()
            time.sleep(min(left, 1.0))

    def _per(self) -> str:
        return "a minute" if self.window == 60 else f"per {self.window:g} s"

    def settle(self, reservation: Reservation | None, tokens: int) -> None:
        if reservation is None:
            return
        member = reservation.member.rsplit("|", 1)[0]
        self._settle(
            keys=[reservation.key], args=[reservation.member, f"{member}|{max(0, int(tokens))}"]
        )

    def usage(self, provider: str) -> dict[str, int]:
        """Requests and tokens in the current window, for the page and the tests."""
        cutoff = time.time() - self.window
        members = self.redis.zrangebyscore(self.key(provider), cutoff, "+inf")
        return {
            "requests": len(members),
            "tokens": sum(int(m.rsplit("|", 1)[1]) for m in members),
        }


# conversations ----------------------------------------------------------------------------


def _conv_key(conversation_id: str) -> str:
    return f"{_prefix()}:conv:{conversation_id}"


def _index_key(owner: str) -> str:
    return f"{_prefix()}:convs:{owner}"


def create_conversation(
    owner: str,
    title: str = "",
    provider: str = "",
    model: str = "",
    client: redis.Redis | None = None,
) -> dict[str, Any]:
    """A new, empty conversation belonging to `owner`."""
    client = client or get_redis()
    now = time.time()
    record = {
        "id": uuid.uuid4().hex,
        "owner": owner,
        "title": _title(title),
        "provider": provider,
        "model": model,
        "created_at": repr(now),
        "updated_at": repr(now),
        "turns": "0",
    }
    ttl = get_settings().retention_days * 86400
    with client.pipeline() as pipe:
        pipe.hset(_conv_key(record["id"]), mapping=record)
        pipe.expire(_conv_key(record["id"]), ttl)
        pipe.zadd(_index_key(owner), {record["id"]: now})
        pipe.execute()
    return _decode_conversation(record)


def append_turn(
    conversation_id: str,
    user_text: str,
    reply_text: str,
    *,
    turn_id: str,
    provider: str = "",
    model: str = "",
    usage: Mapping[str, Any] | None = None,
    client: redis.Redis | None = None,
) -> bool:
    """Store a question and its answer together; False when this turn was stored already."""
    client = client or get_redis()
    conversation = client.hgetall(_conv_key(conversation_id))
    if not conversation:
        raise PermanentError("That conversation no longer exists; start a new one.")
    now = time.time()
    user = {"role": "user", "content": user_text, "at": now, "turn_id": turn_id}
    reply = {
        "role": "assistant",
        "content": reply_text,
        "at": now,
        "turn_id": turn_id,
        "provider": provider,
        "model": model,
        "usage": dict(usage or {}),
    }
    key = _conv_key(conversation_id)
    keys = [key, f"{key}:messages", f"{key}:turns", _index_key(conversation["owner"])]
    ttl = get_settings().retention_days * 86400
    args = [
        turn_id,
        json.dumps(user),
        json.dumps(reply),
        repr(now),
        provider,
        model,
        conversation_id,
        ttl,
    ]
    return bool(client.eval(_APPEND_TURN, len(keys), *keys, *args))


def load_conversation(
    conversation_id: str, client: redis.Redis | None = None
) -> dict[str, Any] | None:
    """The conversation with its messages in order, or None when it is gone."""
    client = client or get_redis()
    record = client.hgetall(_conv_key(conversation_id))
    if not record:
        return None
    raw = client.lrange(f"{_conv_key(conversation_id)}:messages", 0, -1)
    return {**_decode_conversation(record), "messages": [json.loads(m) for m in raw]}


def owned_conversation(
    conversation_id: str, owner: str, client: redis.Redis | None = None
) -> dict[str, Any] | None:
    """`owner`'s conversation with its messages; someone else's answers None, as a missing one."""
    conversation = load_conversation(conversation_id, client)
    if conversation is None or conversation.get("owner") != owner:
        return None
    return conversation


def list_conversations(
    owner: str, limit: int = 50, client: redis.Redis | None = None
) -> list[dict[str, Any]]:
    """The owner's conversations, most recently used first; expired ones are dropped."""
    client = client or get_redis()
    ids = client.zrevrange(_index_key(owner), 0, max(0, limit - 1))
    with client.pipeline() as pipe:
        for conversation_id in ids:
            pipe.hgetall(_conv_key(conversation_id))
        records = pipe.execute()
    gone = [cid for cid, record in zip(ids, records) if not record]
    if gone:
        client.zrem(_index_key(owner), *gone)
    return [_decode_conversation(r) for r in records if r]


def delete_conversation(conversation_id: str, client: redis.Redis | None = None) -> None:
    """Remove a conversation, its messages and its place in the owner's list."""
    client = client or get_redis()
    key = _conv_key(conversation_id)
    owner = client.hget(key, "owner")
    with client.pipeline() as pipe:
        pipe.delete(key, f"{key}:messages", f"{key}:turns")
        if owner:
            pipe.zrem(_index_key(owner), conversation_id)
        pipe.execute()


def _title(text: str) -> str:
    line = " ".join((text or "").split())
    return (line[:60] + "…") if len(line) > 60 else (line or "New conversation")


def _decode_conversation(record: Mapping[str, str]) -> dict[str, Any]:
    return {
        **record,
        "created_at": float(record.get("created_at") or 0),
        "updated_at": float(record.get("updated_at") or 0),
        "turns": int(record.get("turns") or 0),
    }


# usage per day ----------------------------------------------------------------------------


def _day(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(when or time.time(), tz=UTC)
    return moment.strftime("%Y-%m-%d")


def _usage_key(day: str, owner: str | None = None) -> str:
    """The day's totals: everyone's, or one owner's."""
    if owner is None:
        return f"{_prefix()}:usage:{day}"
    return f"{_prefix()}:usage:owner:{owner}:{day}"


def record_usage(
    usage: Usage,
    owner: str,
    when: float | None = None,
    client: redis.Redis | None = None,
) -> None:
    """Add one call's tokens and cost to its day's totals (UTC), everyone's and the owner's."""
    if usage.requests == 0:
        return
    client = client or get_redis()
    model = f"{usage.provider}|{usage.model}"
    with client.pipeline() as pipe:
        for key in (_usage_key(_day(when)), _usage_key(_day(when), owner)):
            for metric in USAGE_METRICS:
                pipe.hincrby(key, f"{model}|{metric}", getattr(usage, metric))
            if usage.cost_usd is None:
                pipe.hincrby(key, f"{model}|unpriced_requests", usage.requests)
            else:
                pipe.hincrby(key, f"{model}|cost_micro_usd", round(usage.cost_usd * MICRO))
            pipe.expire(key, USAGE_TTL)
        pipe.execute()


def tokens_today(owner: str, client: redis.Redis | None = None) -> int:
    """Input plus output tokens the owner's jobs used today (UTC): what the daily quota counts."""
    today = usage_by_day(1, owner=owner, client=client)[0]
    return today["input_tokens"] + today["output_tokens"]


def usage_by_day(
    days: int = 14,
    until: date | None = None,
    client: redis.Redis | None = None,
    owner: str | None = None,
) -> list[dict[str, Any]]:
    """Totals for each of `days` days (UTC) up to `until` (today), newest first, per model too.

    Everyone's by default; one owner's with `owner`.
    """
    client = client or get_redis()
    last = until or datetime.now(UTC).date()
    names = [(last - timedelta(days=n)).isoformat() for n in range(days)]
    with client.pipeline() as pipe:
        for day in names:
            pipe.hgetall(_usage_key(day, owner))
        raw = pipe.execute()
    return [_day_totals(day, fields) for day, fields in zip(names, raw)]


def _day_totals(day: str, fields: Mapping[str, str]) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        provider, model, metric = name.split("|", 2)
        entry = models.setdefault(f"{provider}/{model}", {"provider": provider, "model": model})
        entry[metric] = entry.get(metric, 0) + int(value)
    for entry in models.values():
        entry["cost_usd"] = entry.pop("cost_micro_usd", 0) / MICRO
    total = {m: sum(e.get(m, 0) for e in models.values()) for m in USAGE_METRICS}
    return {
        "day": day,
        **total,
        "cost_usd": round(sum(e["cost_usd"] for e in models.values()), 6),
        "unpriced_requests": sum(e.get("unpriced_requests", 0) for e in models.values()),
        "models": sorted(models.values(), key=lambda e: e["model"]),
    }
