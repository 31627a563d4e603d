"""What the cluster is doing: queue lengths, workers, round trips, queue-length history.

Queue lengths count every priority sub-list kombu keeps (`files`, `files\\x06\\x161`, ...): the
length of the bare list alone misses every message sent with a priority other than 0.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf
from redbeat.schedulers import get_redis as redbeat_redis

from app import audit, cron, jobs, storage
from app.auth import NotAllowed, User
from app.connection import get_redis, get_registry
from app.settings import QUEUES, get_settings
from app.tasks.presence import HEARTBEAT_INTERVAL, worker_key, workers_key
from app.tasks.recording import OWNER_HEADER
from app.words import plural
from config.celery_config import PRIORITY_STEPS, celery_app

OFFLINE_AFTER = HEARTBEAT_INTERVAL * 5
WORKER_COMMANDS = {queue: f"./celery_worker.sh start {queue}" for queue in QUEUES}


@dataclass
class Worker:
    """A worker as its last heartbeat described it."""

    hostname: str
    queues: list[str]
    pool: str
    concurrency: int
    active: int
    reserved: int
    scheduled: int
    processed: int
    load: list[float]
    heartbeat: float
    pid: int
    reserved_by_queue: dict[str, int] = field(default_factory=dict)
    scheduled_by_queue: dict[str, int] = field(default_factory=dict)

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)

    @property
    def online(self) -> bool:
        return self.age < OFFLINE_AFTER


@dataclass
class QueueStats:
    name: str
    length: int
    by_priority: dict[int, int] = field(default_factory=dict)
    consumers: int = 0
    reserved: int = 0
    scheduled: int = 0


def priority_list_names(queue: str) -> list[str]:
    """The Redis lists kombu keeps for one queue, one per priority step."""
    sep = celery_app.conf.broker_transport_options.get("sep", "\x06\x16")
    return [queue if step == 0 else f"{queue}{sep}{step}" for step in PRIORITY_STEPS]


def redis_ok() -> tuple[bool, str]:
    """Whether Redis answers, with a sentence for the page."""
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        return False, f"Redis is not reachable: {exc}"
    return True, "Redis is reachable."


def queue_lengths() -> dict[str, int]:
    return {name: stats.length for name, stats in queue_stats().items()}


def queue_stats() -> dict[str, QueueStats]:
    """Messages waiting in each queue (all priorities), with consumers from worker heartbeats."""
    client = get_redis()
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for name in priority_list_names(queue):
                pipe.llen(name)
        counts = pipe.execute()
    stats: dict[str, QueueStats] = {}
    steps = len(PRIORITY_STEPS)
    for index, queue in enumerate(QUEUES):
        row = counts[index * steps:(index + 1) * steps]
        by_priority = {step: n for step, n in zip(PRIORITY_STEPS, row) if n}
        stats[queue] = QueueStats(queue, sum(row), by_priority)
    for worker in workers():
        if not worker.online:
            continue
        for queue in worker.queues:
            if queue in stats:
                stats[queue].consumers += 1
                stats[queue].reserved += worker.reserved_by_queue.get(queue, 0)
                stats[queue].scheduled += worker.scheduled_by_queue.get(queue, 0)
    return stats


def workers() -> list[Worker]:
    """Every worker seen in the last minute, newest heartbeat first."""
    client = get_redis()
    names = client.zrevrange(workers_key(), 0, -1)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(worker_key(name))
        rows = pipe.execute()
    found = [_worker(row) for row in rows if row]
    gone = [name for name, row in zip(names, rows) if not row]
    if gone:
        client.zrem(workers_key(), *gone)
    return found


def _worker(row: dict[str, str]) -> Worker:
    return Worker(
        hostname=row["hostname"],
        queues=json.loads(row.get("queues", "[]")),
        pool=row.get("pool", ""),
        concurrency=int(row.get("concurrency", 0)),
        active=int(row.get("active", 0)),
        reserved=int(row.get("reserved", 0)),
        scheduled=int(row.get("scheduled", 0)),
        processed=int(row.get("processed", 0)),
        load=json.loads(row.get("load", "[]")),
        heartbeat=float(row.get("heartbeat", 0)),
        pid=int(row.get("pid", 0)),
        reserved_by_queue=json.loads(row.get("reserved_by_queue", "{}")),
        scheduled_by_queue=json.loads(row.get("scheduled_by_queue", "{}")),
    )


def queues_without_workers() -> list[str]:
    served = {q for w in workers() if w.online for q in w.queues}
    return [queue for queue in QUEUES if queue not in served]


def ping(queue: str, timeout: float = 10.0, *, user: User) -> dict[str, Any]:
    """Send the diagnostic ping through `queue`, as a job of `user`, and time the round trip."""
    if queue not in QUEUES:
        raise ValueError(f"There is no queue called {queue}.")
    started = time.perf_counter()
    job_id = jobs.new_job_id()
    jobs.tasks_by_kind()["ping"].apply_async(
        kwargs={"sent_at": time.time()}, task_id=job_id, queue=queue, priority=0,
        headers={OWNER_HEADER: user.id},
    )
    try:
        record = jobs.wait(job_id, timeout=timeout, user=user)
    except TimeoutError:
        return {"queue": queue, "ok": False, "job_id": job_id,
                "message": f"No worker answered on {queue} within {timeout:g} s."}
    elapsed = time.perf_counter() - started
    return {
        "queue": queue,
        "ok": record["state"] == "SUCCESS",
        "job_id": job_id,
        "round_trip_ms": round(elapsed * 1000, 1),
        "worker": (record.get("result") or {}).get("worker"),
        "message": record.get("error") or "",
    }


def history_key() -> str:
    return f"{get_settings().registry_prefix}:queue_samples"


def record_sample(now: float | None = None, keep_days: int | None = None) -> dict[str, int]:
    """Store one sample of every queue's length; samples older than `keep_days` are dropped."""
    now = now or time.time()
    lengths = queue_lengths()
    keep = (keep_days or get_settings().retention_days) * 86400
    client = get_redis()
    with client.pipeline(transaction=True) as pipe:
        pipe.zadd(history_key(), {json.dumps({"t": now, **lengths}): now})
        pipe.zremrangebyscore(history_key(), "-inf", now - keep)
        pipe.execute()
    return lengths


def history(since_seconds: float, now: float | None = None) -> list[dict[str, float]]:
    """Queue-length samples of the last `since_seconds`, oldest first."""
    now = now or time.time()
    rows = get_redis().zrangebyscore(history_key(), now - since_seconds, now)
    return [json.loads(row) for row in rows]


def health_key() -> str:
    return f"{get_settings().registry_prefix}:health"


def check_health(min_free_bytes: int = 1024**3) -> dict[str, Any]:
    """Redis, a worker on every queue, and free disk space under the storage root."""
    problems: list[str] = []
    ok, message = redis_ok()
    if not ok:
        problems.append(message)
        return {"checked": time.time(), "problems": problems}
    for queue in queues_without_workers():
        problems.append(f"No worker reads the {queue} queue: `{WORKER_COMMANDS[queue]}`.")
    unreachable = storage.unreachable()
    if unreachable:
        problems.append(unreachable)
    # The folder that fills up: job storage itself, or with a bucket this host's scratch.
    local_root = storage.store().folder
    local_root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(local_root).free
    if free < min_free_bytes:
        what = "job storage" if storage.store().local else "this host's scratch folder"
        problems.append(f"Only {free / 1024**3:.1f} GB free for {what}.")
    return {
        "checked": time.time(),
        "problems": problems,
        "free_bytes": free,
        "queues": queue_lengths(),
    }


def save_health(report: dict[str, Any]) -> None:
    get_redis().set(health_key(), json.dumps(report), ex=3600)


def last_health() -> dict[str, Any] | None:
    """The latest health report the maintenance worker stored, if any in the last hour."""
    raw = get_redis().get(health_key())
    return json.loads(raw) if raw else None


def purge(queue: str, *, user: User, client: str = "") -> int:
    """Drop every waiting message of a queue; their jobs are marked cancelled. Admins only."""
    if not user.is_admin:
        raise NotAllowed("Only an admin can purge a queue.")
    if queue not in QUEUES:
        raise ValueError(f"There is no queue called {queue}.")
    client = get_redis()
    names = priority_list_names(queue)
    with client.pipeline(transaction=True) as pipe:
        for name in names:
            pipe.lrange(name, 0, -1)
        pipe.delete(*names)
        results = pipe.execute()
    messages = [m for batch in results[:-1] for m in batch]
    registry = get_registry()
    for message in messages:
        job_id = _message_id(message)
        if job_id:
            registry.transition(job_id, "REVOKED", finished_at=time.time(),
                                error=f"Purged from the {queue} queue.")
    audit.record(user, "queue.purge", queue, plural(len(messages), "message"), client)
    return len(messages)


def _message_id(raw: str) -> str | None:
    try:
        return json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None


def run_sample(queue: str, *, user: User) -> str:
    """Run the diagnostic sample job on a queue as a job of `user`; returns its job id."""
    if queue not in QUEUES:
        raise ValueError(f"There is no queue called {queue}.")
    job_id = jobs.new_job_id()
    jobs.tasks_by_kind()["sample_job"].apply_async(
        kwargs={"steps": 5, "step_seconds": 0.4}, task_id=job_id, queue=queue,
        headers={OWNER_HEADER: user.id},
    )
    return job_id


def beat_schedule(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every periodic entry beat knows, the static schedule and those added at run time.

    Each says its schedule in words and its next and last runs as epoch seconds.
    """
    now = now or datetime.now(UTC)
    entries = []
    try:
        schedule_key = ensure_conf(celery_app).schedule_key
        keys = redbeat_redis(celery_app).zrange(schedule_key, 0, -1)
    except redis.RedisError:
        keys = []
    for key in keys:
        key = key.decode() if isinstance(key, bytes) else key
        try:
            entry = RedBeatSchedulerEntry.from_key(key, app=celery_app)
        except KeyError:
            continue
        # The stored meta, not the entry: an entry that never ran reports "now" as its last run.
        last = RedBeatSchedulerEntry.load_meta(key, app=celery_app).get("last_run_at")
        entries.append({
            "name": entry.name,
            "task": entry.task,
            "schedule": cron.describe(entry.schedule),
            "enabled": entry.enabled,
            "next_run": cron.next_run(entry.schedule, last, now).timestamp()
            if entry.enabled else None,
            "last_run": last.timestamp() if last else None,
            "runs": entry.total_run_count,
        })
    known = {e["name"] for e in entries}
    for name, spec in (celery_app.conf.beat_schedule or {}).items():
        if name not in known:
            entries.append({"name": name, "task": spec["task"],
                            "schedule": cron.describe(spec["schedule"]), "enabled": True,
                            "next_run": None, "last_run": None, "runs": 0})
    return entries
