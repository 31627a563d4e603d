"""Job records in Redis, in the manner of python-rq's registries.

One hash per job holds the record. Sorted sets scored by submission time index the jobs (all,
per state, queue, kind and owner), so a page of jobs is one range read, never a scan. Every
multi-key change runs in one MULTI/EXEC or Lua script so it lands whole.

The registry is the history the monitor shows: it outlives Celery's result_expires, and
`trim` applies the retention.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from app.auth import SYSTEM_OWNER
from app.titles import title_of

STATES = ("QUEUED", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED")
TERMINAL = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
JSON_FIELDS = ("params", "progress", "result", "outputs", "headers")
INT_FIELDS = ("retries", "priority", "attempts", "lost")
FLOAT_FIELDS = (
    "submitted_at", "started_at", "finished_at", "updated_at", "cancel_requested_at", "stopped_at"
)
MAX_RESULT_BYTES = 64 * 1024
MAX_TEXT_SCAN = 5000
INTERSECTION_TTL = 3

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential|auth", re.IGNORECASE)
_MAX_PARAM_CHARS = 300

# Moves a job to a new state unless it has already finished: a late STARTED or PROGRESS from a
# slow worker must never overwrite SUCCESS, and a cancelled job stays cancelled. A job that
# fails becomes a dead letter in the same step, so nobody sees one without the other. Each
# STARTED counts an attempt, and `lost` counts the deliveries whose worker died mid-run (the
# job was still running when it started again): the poison-input guard reads it. A job
# that finishes leaves a snapshot of its record in its `done` list, which wakes anyone blocked
# in `wait_done` and hands them the record in the same round trip. Keys after the seven state
# indexes are deleted first, whatever the outcome (a job's secrets as it ends), and a move to
# STARTED answers {1, attempts, lost}, so a worker reads its poison-input counts in the same step.
_TRANSITION = """
local job = KEYS[1]
for i = 12, #KEYS do redis.call('DEL', KEYS[i]) end
local current = redis.call('HGET', job, 'state')
if not current then return -1 end
local new = ARGV[1]
local force = ARGV[2] == '1'
if not force and (current == 'SUCCESS' or current == 'FAILURE' or current == 'REVOKED') then
  return 0
end
local score = redis.call('HGET', job, 'submitted_at')
for i = 5, 11 do redis.call('ZREM', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[5 + tonumber(ARGV[4])], score, ARGV[3])
redis.call('HSET', job, 'state', new)
if new == 'STARTED' then
  redis.call('HINCRBY', job, 'attempts', 1)
  -- Started again while still running: the worker process of the last delivery died.
  if current == 'STARTED' or current == 'PROGRESS' then redis.call('HINCRBY', job, 'lost', 1) end
end
if new == 'FAILURE' then
  local now = redis.call('TIME')
  redis.call('ZADD', KEYS[2], now[1] + now[2] / 1000000, ARGV[3])
end
for i = 5, #ARGV, 2 do redis.call('HSET', job, ARGV[i], ARGV[i + 1]) end
if new == 'SUCCESS' or new == 'FAILURE' or new == 'REVOKED' then
  local flat = redis.call('HGETALL', job)
  local record = {}
  for i = 1, #flat, 2 do record[flat[i]] = flat[i + 1] end
  local children = redis.call('ZRANGE', KEYS[4], 0, -1)
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[3], cjson.encode({record = record, children = children}))
  redis.call('EXPIRE', KEYS[3], 600)
end
if new == 'STARTED' then
  local counts = redis.call('HMGET', job, 'attempts', 'lost')
  return {1, tonumber(counts[1] or '0'), tonumber(counts[2] or '0')}
end
return 1
"""

# Creates a record and its index entries in one round trip, unless the job already has one: a
# retry republishes the same task id, and its record must keep its history. People's jobs are
# also indexed apart from the platform's own, so a listing can leave system work out cheaply.
_CREATE = """
if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 0 then return 0 end
local now = ARGV[2]
redis.call('SET', KEYS[2], ARGV[3])
if tonumber(ARGV[7]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[7]) end
for i = 3, 7 do redis.call('ZADD', KEYS[i], now, ARGV[1]) end
if ARGV[4] == '1' then redis.call('ZADD', KEYS[8], now, ARGV[1]) end
if ARGV[5] == '1' then redis.call('HSET', KEYS[9], 'retried_by', ARGV[1]) end
if ARGV[6] == '1' then redis.call('ZADD', KEYS[10], now, ARGV[1]) end
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# Marks a cancelled job as stopped once; a record in any other state, or none, is left alone.
_MARK_STOPPED = """
if redis.call('HGET', KEYS[1], 'state') ~= 'REVOKED' then return 0 end
return redis.call('HSETNX', KEYS[1], 'stopped_at', ARGV[1])
"""


@dataclass
class Page:
    """One page of jobs, newest first; `total` is None when only a bounded scan was made."""

    jobs: list[dict]
    total: int | None
    offset: int
    limit: int
    scanned: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        if self.total is None:
            return len(self.jobs) == self.limit
        return self.offset + len(self.jobs) < self.total


def summarize_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The params fit for display: secrets redacted, long strings and lists shortened."""
    return {key: _summarize(key, value) for key, value in (params or {}).items()}


def strip_secrets(params: dict[str, Any] | None) -> dict[str, Any]:
    """The params kept for retries: secret-looking keys go, unless they hold a vault reference.

    A reference names a secret without holding it; keeping it lets a retry say which secret
    must be given again.
    """
    return {
        k: v for k, v in (params or {}).items()
        if not _SECRET_KEY.search(k) or is_secret_ref(v)
    }


def is_secret_ref(value: Any) -> bool:
    """True for {"$secret": "<key>"}, the stand-in app.vault puts where a secret was."""
    return isinstance(value, dict) and set(value) == {"$secret"}


def looks_secret(name: str) -> bool:
    """True when a parameter's name says it holds a secret (password, token, api_key...)."""
    return bool(_SECRET_KEY.search(name))


def _summarize(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return "********"
    if isinstance(value, str) and len(value) > _MAX_PARAM_CHARS:
        return f"{value[:_MAX_PARAM_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, dict):
        if "path" in value and "name" in value:
            return {k: value[k] for k in ("name", "type", "size") if k in value}
        return {k: _summarize(k, v) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        head = [_summarize(key, v) for v in value[:20]]
        return [*head, f"… {len(value) - 20} more"] if len(value) > 20 else head
    return value


def _encode(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _clip_result(result: Any) -> Any:
    encoded = _encode(result)
    if len(encoded) <= MAX_RESULT_BYTES:
        return result
    return {"note": "The result was too large to keep in full.", "preview": encoded[:4000]}


class Registry:
    """Job records and their indexes, under one key prefix in one Redis database."""

    def __init__(self, client: redis.Redis, prefix: str = "nexus", kwargs_ttl: int = 0) -> None:
        self.redis = client
        self.prefix = prefix
        # Kept kwargs serve retries only: they expire (0: never) rather than sit in memory.
        self.kwargs_ttl = kwargs_ttl
        self._transition = client.register_script(_TRANSITION)
        self._create = client.register_script(_CREATE)
        self._mark_stopped = client.register_script(_MARK_STOPPED)

    # keys -------------------------------------------------------------------------------

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def kwargs_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:kwargs"

    def done_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:done"

    def children_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:children"

    def index_key(self, dimension: str, value: str | None = None) -> str:
        return f"{self.prefix}:idx:{dimension}" + (f":{value}" if value is not None else "")

    @property
    def dead_letters_key(self) -> str:
        return f"{self.prefix}:deadletters"

    def _state_keys(self) -> list[str]:
        return [self.index_key("state", s) for s in STATES]

    # writing ----------------------------------------------------------------------------

    def create(self, job_id: str, **fields: Any) -> bool:
        """Record a newly published job; a job that already has a record is left alone.

        `fields` are those of `_create_call`: kind, name, queue and owner, and optionally
        params, priority, parent, retry_of, eta, submitted_at, by_admin (an admin submitted
        it: it may read everyone's history) and chunk (the Celery task that runs the job
        along with others of its batch).
        """
        keys, args = self._create_call(job_id, **fields)
        return bool(self._create(keys=keys, args=args))

    def create_many(self, jobs: list[dict[str, Any]]) -> int:
        """Record many new jobs (each the keyword arguments of `create`) in one round trip.

        Returns how many were new; jobs that already have a record are left alone.
        """
        if not jobs:
            return 0
        with self.redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                keys, args = self._create_call(**job)
                self._create(keys=keys, args=args, client=pipe)
            return sum(1 for created in pipe.execute() if created)

    def _create_call(
        self,
        job_id: str,
        *,
        kind: str,
        name: str,
        queue: str,
        owner: str,
        params: dict[str, Any] | None = None,
        priority: int | None = None,
        parent: str | None = None,
        retry_of: str | None = None,
        eta: float | None = None,
        submitted_at: float | None = None,
        by_admin: bool = False,
        chunk: str | None = None,
    ) -> tuple[list[str], list[Any]]:
        key = self.job_key(job_id)
        now = submitted_at or time.time()
        record = {
            "id": job_id,
            "kind": kind,
            "name": name,
            "queue": queue,
            "owner": owner,
            "state": "QUEUED",
            "params": _encode(summarize_params(params)),
            "progress": _encode({"current": 0, "total": 0, "message": ""}),
            "priority": "" if priority is None else str(priority),
            "submitted_at": repr(now),
            "updated_at": repr(now),
            "retries": "0",
            "parent": parent or "",
            "retry_of": retry_of or "",
            "eta": "" if eta is None else repr(eta),
            "by_admin": "1" if by_admin else "",
        }
        if chunk:
            record["chunk"] = chunk
        keys = [
            key,
            self.kwargs_key(job_id),
            self.index_key("all"),
            self.index_key("state", "QUEUED"),
            self.index_key("queue", queue),
            self.index_key("kind", kind),
            self.index_key("owner", owner),
            self.children_key(parent or job_id),
            self.job_key(retry_of or job_id),
            self.index_key("people"),
        ]
        args: list[Any] = [job_id, repr(now), _encode(strip_secrets(params)),
                           "1" if parent else "0", "1" if retry_of else "0",
                           "0" if owner == SYSTEM_OWNER else "1", str(self.kwargs_ttl)]
        for name, value in record.items():
            args.extend([name, value])
        return keys, args

    def transition(
        self, job_id: str, state: str, force: bool = False, discard: Iterable[str] = (),
        **fields: Any,
    ) -> bool:
        """Move a job to `state` and set `fields`; finished jobs only move when forced.

        The keys in `discard` are deleted in the same step whether or not the job moves.
        """
        return self._move(job_id, state, force, discard, fields)[0] == 1

    def move(self, job_id: str, state: str, force: bool = False, **fields: Any) -> int:
        """Like `transition`: 1 moved, 0 refused because the job has finished, -1 no record."""
        return self._move(job_id, state, force, (), fields)[0]

    def start(self, job_id: str, **fields: Any) -> tuple[int, int, int]:
        """Move a job to STARTED: (moved as `move` says, attempts, lost deliveries) at once."""
        return self._move(job_id, "STARTED", False, (), fields)

    def _move(
        self, job_id: str, state: str, force: bool, discard: Iterable[str], fields: dict[str, Any]
    ) -> tuple[int, int, int]:
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        fields.setdefault("updated_at", time.time())
        args: list[Any] = [state, "1" if force else "0", job_id, STATES.index(state)]
        for name, value in fields.items():
            args.extend([name, self._field(name, value)])
        keys = [self.job_key(job_id), self.dead_letters_key, self.done_key(job_id),
                self.children_key(job_id), *self._state_keys(), *discard]
        answer = self._transition(keys=keys, args=args)
        if isinstance(answer, list):
            return int(answer[0]), int(answer[1]), int(answer[2])
        return int(answer), 0, 0

    def update(self, job_id: str, **fields: Any) -> None:
        """Set fields of an existing record without changing its state."""
        if not self.redis.exists(self.job_key(job_id)):
            return
        self.redis.hset(
            self.job_key(job_id), mapping={k: self._field(k, v) for k, v in fields.items()}
        )

    def mark_stopped(self, job_id: str, when: float | None = None) -> None:
        """Record, once, that no worker runs a cancelled job any more; others are left alone."""
        self._mark_stopped(keys=[self.job_key(job_id)], args=[repr(when or time.time())])

    def set_progress(self, job_id: str, current: int, total: int, message: str = "") -> bool:
        progress = {"current": current, "total": total, "message": message}
        return self.transition(job_id, "PROGRESS", progress=progress)

    def add_dead_letter(self, job_id: str, when: float | None = None) -> None:
        self.redis.zadd(self.dead_letters_key, {job_id: when or time.time()})

    def remove_dead_letter(self, job_id: str) -> None:
        self.redis.zrem(self.dead_letters_key, job_id)

    def delete(self, job_ids: Iterable[str]) -> int:
        """Remove records and every index entry pointing at them."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self.job_key(job_id), "queue", "kind", "owner", "parent")
            rows = pipe.execute()
        with self.redis.pipeline(transaction=True) as pipe:
            for job_id, (queue, kind, owner, parent) in zip(ids, rows):
                pipe.delete(
                    self.job_key(job_id), self.kwargs_key(job_id), self.children_key(job_id),
                    self.done_key(job_id),
                )
                pipe.zrem(self.index_key("all"), job_id)
                pipe.zrem(self.index_key("people"), job_id)
                pipe.zrem(self.dead_letters_key, job_id)
                for state_key in self._state_keys():
                    pipe.zrem(state_key, job_id)
                for dimension, value in (("queue", queue), ("kind", kind), ("owner", owner)):
                    if value:
                        pipe.zrem(self.index_key(dimension, value), job_id)
                if parent:
                    pipe.zrem(self.children_key(parent), job_id)
            pipe.execute()
        return len(ids)

    def trim(self, older_than: float, batch: int = 500) -> int:
        """Delete finished jobs submitted before `older_than`; returns how many went."""
        removed = 0
        while True:
            ids = self.redis.zrangebyscore(
                self.index_key("all"), "-inf", older_than, start=0, num=batch
            )
            if not ids:
                return removed
            states = self.redis.pipeline(transaction=False)
            for job_id in ids:
                states.hget(self.job_key(job_id), "state")
            finished = [j for j, s in zip(ids, states.execute()) if s in TERMINAL or s is None]
            removed += self.delete(finished)
            if len(finished) < len(ids):
                return removed

    def _field(self, name: str, value: Any) -> str:
        if name in JSON_FIELDS:
            return _encode(_clip_result(value) if name == "result" else value)
        if value is None:
            return ""
        return repr(value) if isinstance(value, float) else str(value)

    # reading ----------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        """One job's record, or None when there is no such job."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.job_key(job_id))
            pipe.zrange(self.children_key(job_id), 0, -1)
            raw, children = pipe.execute()
        if not raw:
            return None
        record = self._decode(raw)
        record["children"] = children
        return record

    def wait_done(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """Block until the job finishes, then return its record; None after `timeout` seconds.

        One BLMOVE wakes the moment the finishing transition pushes the record's snapshot and
        returns it; moving the list onto itself leaves the snapshot for anyone else waiting.
        """
        done = self.done_key(job_id)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # Short slices: a snapshot expires after ten minutes, and a job may have finished
            # long before anyone waits for it.
            snapshot = self.redis.blmove(done, done, min(remaining, 1.0), "LEFT", "LEFT")
            if snapshot:
                data = json.loads(snapshot)
                children = data["children"] if isinstance(data["children"], list) else []
                return {**self._decode(data["record"]), "children": children}
            record = self.get(job_id)
            if record is None or record["state"] in TERMINAL:
                return record

    def owner_and_end(self, job_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """The job's owner (None: no such job), and its record once it has finished, at once.

        The end is the snapshot the finishing transition left, else the record itself when it
        is terminal (a snapshot expires); None while the job has not finished.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.job_key(job_id), "owner", "state")
            pipe.lindex(self.done_key(job_id), 0)
            (owner, state), snapshot = pipe.execute()
        if snapshot:
            data = json.loads(snapshot)
            children = data["children"] if isinstance(data["children"], list) else []
            return owner, {**self._decode(data["record"]), "children": children}
        if state in TERMINAL:
            return owner, self.get(job_id)
        return owner, None

    def kwargs(self, job_id: str) -> dict[str, Any]:
        raw = self.redis.get(self.kwargs_key(job_id))
        return json.loads(raw) if raw else {}

    def state(self, job_id: str) -> str | None:
        return self.redis.hget(self.job_key(job_id), "state")

    def get_many(self, job_ids: list[str]) -> list[dict[str, Any]]:
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.job_key(job_id))
            rows = pipe.execute()
        return [self._decode(raw) for raw in rows if raw]

    def list(
        self,
        *,
        state: str | None = None,
        queue: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = 50,
        people_only: bool = False,
    ) -> Page:
        """A page of jobs, newest first, matching every filter given.

        `people_only` leaves out the platform's own work (owner `system`).
        """
        index = self._index_for(
            fresh=offset == 0, people_only=people_only,
            state=state, queue=queue, kind=kind, owner=owner,
        )
        if text:
            return self._search(index, text.casefold(), offset, limit)
        ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        return Page(self.get_many(ids), self.redis.zcard(index), offset, limit, len(ids))

    def count_since(self, since: float, owner: str | None = None) -> dict[str, int]:
        """How many jobs submitted since `since` are in each state; only `owner`'s when given."""
        if owner is not None:
            ids = self.redis.zrangebyscore(self.index_key("owner", owner), since, "+inf")
            with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(self.job_key(job_id), "state")
                states = pipe.execute()
            return {state: states.count(state) for state in STATES}
        with self.redis.pipeline(transaction=False) as pipe:
            for state_key in self._state_keys():
                pipe.zcount(state_key, since, "+inf")
            counts = pipe.execute()
        return dict(zip(STATES, counts))

    def children(self, job_id: str) -> list[dict[str, Any]]:
        return self.get_many(self.redis.zrange(self.children_key(job_id), 0, -1))

    def dead_letters(self, offset: int = 0, limit: int = 50, owner: str | None = None) -> Page:
        """Permanently failed jobs, the latest failure first; only `owner`'s when given."""
        index = self.dead_letters_key
        if owner is not None:
            # Weights keep the failure time as the score, so the order stays "latest first".
            index = self.index_key("tmp", f"deadletters&{owner}")
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.zinterstore(
                    index, {self.dead_letters_key: 1, self.index_key("owner", owner): 0}
                )
                pipe.expire(index, INTERSECTION_TTL)
                pipe.execute()
        ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        total = self.redis.zcard(index)
        return Page(self.get_many(ids), total, offset, limit, len(ids))

    def dead_letters_before(self, when: float) -> list[str]:
        return self.redis.zrangebyscore(self.dead_letters_key, "-inf", when)

    def ids_between(self, start: float, end: float) -> list[str]:
        return self.redis.zrangebyscore(self.index_key("all"), start, end)

    def _index_for(
        self, fresh: bool = True, people_only: bool = False, **filters: str | None
    ) -> str:
        keys = [self.index_key(dim, value) for dim, value in filters.items() if value]
        if people_only and not filters.get("owner"):
            keys.append(self.index_key("people"))
        if not keys:
            return self.index_key("all")
        if len(keys) == 1:
            return keys[0]
        # Several filters: intersect in Redis. The first page is always fresh; the pages after it
        # reuse the intersection for a few seconds, so paging through it stays cheap.
        target = self.index_key("tmp", "&".join(sorted(keys)))
        if fresh or not self.redis.exists(target):
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.zinterstore(target, keys, aggregate="MAX")
                pipe.expire(target, INTERSECTION_TTL)
                pipe.execute()
        return target

    def _search(self, index: str, needle: str, offset: int, limit: int) -> Page:
        """Text search over the newest MAX_TEXT_SCAN jobs of the index; bounded by design."""
        matches: list[dict[str, Any]] = []
        skipped = scanned = 0
        batch = 200
        while scanned < MAX_TEXT_SCAN and len(matches) < limit:
            ids = self.redis.zrevrange(index, scanned, scanned + batch - 1)
            if not ids:
                break
            scanned += len(ids)
            with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hmget(self.job_key(job_id), "id", "kind", "name", "params", "error")
                rows = pipe.execute()
            for job_id, row in zip(ids, rows):
                if needle not in " ".join(v for v in row if v).casefold():
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                matches.append(job_id)
                if len(matches) == limit:
                    break
        notes = []
        if scanned >= MAX_TEXT_SCAN:
            notes.append(f"Text search looked at the newest {MAX_TEXT_SCAN:,} matching jobs.")
        return Page(self.get_many(matches), None, offset, limit, scanned, notes)

    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Any]:
        record: dict[str, Any] = dict(raw)
        for name in JSON_FIELDS:
            if record.get(name):
                record[name] = json.loads(record[name])
        for name in INT_FIELDS:
            record[name] = int(record[name]) if record.get(name) else None
        for name in FLOAT_FIELDS:
            record[name] = float(record[name]) if record.get(name) else None
        record["retries"] = record["retries"] or 0
        record["attempts"] = record["attempts"] or 0
        record["lost"] = record["lost"] or 0
        record["title"] = title_of(record.get("kind") or "", record.get("params"))
        for name in ("parent", "retry_of", "retried_by", "error", "traceback", "eta", "chunk"):
            record[name] = record.get(name) or None
        record.setdefault("outputs", [])
        record.setdefault("result", None)
        return record
