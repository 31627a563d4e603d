"""The process-wide Redis connection and the registry bound to it."""

from __future__ import annotations

from functools import lru_cache

import redis

from app.registry import Registry
from app.settings import get_settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """A pooled client for REDIS_URL that returns str, with short timeouts so pages never hang."""
    return redis.Redis.from_url(
        get_settings().redis_url,
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=5,
        health_check_interval=30,
    )


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    settings = get_settings()
    return Registry(get_redis(), prefix=settings.registry_prefix,
                    kwargs_ttl=settings.retention_days * 86400)
