"""The process-wide Redis connection, the registry bound to it, and riding out an outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.registry import Registry
from app.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a Redis that is down, restarting or still loading its append-only file looks like to a
# client. BusyLoadingError is a ConnectionError in redis-py.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """A pooled client for REDIS_URL that returns str, with short timeouts so pages never hang.

    Two quick retries ride over a dropped connection; a Redis that is down fails the call in
    well under a second (redis-py's default would retry for seconds), and the caller decides:
    pages say so, workers hold with `through_outage`.
    """
    return redis.Redis.from_url(
        get_settings().redis_url,
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
    )


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    settings = get_settings()
    return Registry(get_redis(), prefix=settings.registry_prefix,
                    kwargs_ttl=settings.retention_days * 86400)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` means Redis or the broker cannot be reached, not that a call was wrong."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    from app.errors import Unavailable

    if isinstance(exc, Unavailable):
        return True
    # kombu's OperationalError and Celery's "Retry limit exceeded ... result store backend"
    # RuntimeError both wrap a refused connection; their cause says so.
    cause = exc.__cause__ or exc.__context__
    name = type(exc).__name__
    if name == "OperationalError" or "result store backend" in str(exc):
        return True
    return cause is not None and cause is not exc and isinstance(cause, OUTAGE_ERRORS)


def through_outage(call: Callable[[], T], patience: float | None = None, what: str = "") -> T:
    """`call()`, retried with backoff while Redis is unreachable, for up to `patience` seconds.

    Workers wrap their registry writes in this: a Redis restart must delay a job's record, not
    fail the job. After `patience` (REDIS_OUTAGE_PATIENCE) the last connection error is raised.
    """
    limit = get_settings().redis_outage_patience if patience is None else patience
    deadline = time.monotonic() + limit
    delay = 0.2
    while True:
        try:
            return call()
        except OUTAGE_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis is not reachable (%s); retrying %s in %.1f s", exc,
                        what or "a registry write", delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
