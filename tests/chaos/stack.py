"""What the fault tests share: waiting for a condition, and reading the registry directly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from app.connection import get_registry
from app.registry import TERMINAL

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, every: float = 0.1,
             what: str = "condition") -> T:
    """The first truthy value of `predicate()`; AssertionError once `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout} s")


def states(job_ids: list[str], registry=None) -> dict[str, str | None]:
    """Each job's state, in one pipeline."""
    registry = registry or get_registry()
    with registry.redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(registry.job_key(job_id), "state")
        return dict(zip(job_ids, pipe.execute()))


def all_finished(job_ids: list[str], registry=None) -> bool:
    return all(s in TERMINAL for s in states(job_ids, registry).values())


def running(job_ids: list[str], registry=None) -> list[str]:
    """The jobs the registry still shows as running."""
    return [j for j, s in states(job_ids, registry).items() if s in ("STARTED", "PROGRESS")]


def drop_messages(queue: str, job_ids: list[str]) -> None:
    """Remove the messages of finished (cancelled) jobs from a queue and from `unacked`.

    A worker's warm shutdown hands its unacknowledged messages back to their queue; those of
    jobs a test cancelled would otherwise wait there for the next module's workers.
    """
    from app.connection import get_redis
    from app.monitor import priority_list_names

    client = get_redis()
    for key in priority_list_names(queue):
        for message in client.lrange(key, 0, -1):
            if any(job_id in message for job_id in job_ids):
                client.lrem(key, 0, message)
    for tag, message in list(client.hscan_iter("unacked")):
        if any(job_id in message for job_id in job_ids):
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
