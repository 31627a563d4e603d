"""Worker presence: each worker writes a heartbeat record to Redis every few seconds.

The monitor reads these records instead of broadcasting `inspect` calls, so a page render costs
one small pipeline whatever the workers are doing. Maintenance reads them too: a job left
STARTED by a worker whose record has gone is an orphan. The pool processes of files and
reports workers also get their memory limit here, as they start.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from typing import Any

from celery import signals
from celery.worker import state as worker_state
from celery.worker.control import _iter_schedule_requests

from app.connection import get_redis
from app.settings import get_settings

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 2.0
RECORD_TTL = 60


def workers_key() -> str:
    return f"{get_settings().registry_prefix}:workers"


def worker_key(hostname: str) -> str:
    return f"{get_settings().registry_prefix}:worker:{hostname}"


def _by_queue(requests: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in list(requests):
        queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or "?"
        counts[queue] = counts.get(queue, 0) + 1
    return counts


def _snapshot(consumer: Any) -> dict[str, str]:
    controller = consumer.controller
    queues = sorted(q.name for q in consumer.task_consumer.queues) if consumer.task_consumer else []
    pool = getattr(controller, "pool_cls", None)
    pool_name = getattr(pool, "__module__", str(pool)).rsplit(".", 1)[-1]
    scheduled = list(_iter_schedule_requests(consumer.timer))
    return {
        "hostname": consumer.hostname,
        "pid": str(os.getpid()),
        "queues": json.dumps(queues),
        "pool": pool_name,
        "concurrency": str(controller.concurrency),
        "active": str(len(worker_state.active_requests)),
        "reserved": str(len(worker_state.reserved_requests)),
        "scheduled": str(len(scheduled)),
        "reserved_by_queue": json.dumps(_by_queue(worker_state.reserved_requests)),
        "scheduled_by_queue": json.dumps(_by_queue(scheduled)),
        "processed": str(sum(worker_state.total_count.values())),
        "load": json.dumps([round(x, 2) for x in os.getloadavg()]),
        "heartbeat": repr(time.time()),
    }


def beat(consumer: Any) -> None:
    """Write this worker's presence record; errors are logged, never raised."""
    try:
        snapshot = _snapshot(consumer)
        key = worker_key(consumer.hostname)
        with get_redis().pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=snapshot)
            pipe.expire(key, RECORD_TTL)
            pipe.zadd(workers_key(), {consumer.hostname: time.time()})
            pipe.execute()
    except Exception:
        log.exception("Could not write the worker heartbeat")


@signals.worker_ready.connect
def start_heartbeats(sender: Any = None, **_: Any) -> None:
    beat(sender)
    sender.timer.call_repeatedly(HEARTBEAT_INTERVAL, beat, (sender,), priority=10)


@signals.worker_shutdown.connect
def stop_heartbeats(sender: Any = None, **_: Any) -> None:
    try:
        with get_redis().pipeline(transaction=True) as pipe:
            pipe.delete(worker_key(sender.hostname))
            pipe.zrem(workers_key(), sender.hostname)
            pipe.execute()
    except Exception:
        log.exception("Could not remove the worker heartbeat")


# Worker process limits ---------------------------------------------------------------------

MEMORY_LIMITED_QUEUES = frozenset({"files", "reports"})


def consumed_queues() -> set[str]:
    """The queues this worker reads (-Q), as the Celery app knows them in any of its processes."""
    from config.celery_config import celery_app

    return set(celery_app.amqp.queues.consume_from or {})


def limit_address_space(megabytes: int) -> None:
    """Cap this process's address space: past it, allocating raises MemoryError (no OOM kill)."""
    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@signals.worker_process_init.connect
def limit_child_memory(**_: Any) -> None:
    """Files and reports pool children get CHILD_ADDRESS_SPACE_MB: one file cannot sink the host."""
    megabytes = get_settings().child_address_space_mb
    if not megabytes or not consumed_queues() & MEMORY_LIMITED_QUEUES:
        return
    try:
        limit_address_space(megabytes)
    except (ValueError, OSError):
        log.exception("Could not limit the memory of a worker process")
