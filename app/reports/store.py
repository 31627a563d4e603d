"""Recurring-report definitions in Redis: what to build, for whom, and the latest run's job.

The only module of app/reports that touches Redis. Each function takes a client (`client=`;
the process-wide one from app.connection when omitted) and none imports Celery or Streamlit.
When a schedule fires is beat's business: app.schedules keeps its RedBeat entry beside this.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from app.connection import get_redis
from app.settings import get_settings

# What callers pass as `client`, so the rest of the package never imports redis itself.
Client = redis.Redis


def _key(schedule_id: str) -> str:
    return f"{get_settings().registry_prefix}:report-schedule:{schedule_id}"


def _index_key() -> str:
    return f"{get_settings().registry_prefix}:report-schedules"


def save(definition: dict[str, Any], client: Client | None = None) -> None:
    """Store a definition and list it by its creation time, in one step."""
    client = client or get_redis()
    with client.pipeline() as pipe:
        pipe.hset(_key(definition["id"]), mapping={"definition": json.dumps(definition)})
        pipe.zadd(_index_key(), {definition["id"]: definition["created_at"]})
        pipe.execute()


def load(schedule_id: str, client: Client | None = None) -> dict[str, Any] | None:
    """The stored definition, or None when there is no such schedule."""
    raw = (client or get_redis()).hget(_key(schedule_id), "definition")
    return json.loads(raw) if raw else None


def last_job(schedule_id: str, client: Client | None = None) -> str | None:
    """The job of the schedule's latest run, None before its first."""
    return (client or get_redis()).hget(_key(schedule_id), "last_job") or None


def schedule_ids(client: Client | None = None) -> list[str]:
    """Every stored schedule's id, newest first."""
    return (client or get_redis()).zrevrange(_index_key(), 0, -1)


def remove(schedule_id: str, client: Client | None = None) -> bool:
    """Forget a definition; False when there was none."""
    client = client or get_redis()
    with client.pipeline() as pipe:
        pipe.delete(_key(schedule_id))
        pipe.zrem(_index_key(), schedule_id)
        removed, _ = pipe.execute()
    return bool(removed)


def record_run(schedule_id: str, job_id: str, client: Client | None = None) -> None:
    """Remember the job of the latest run, for the page's table."""
    (client or get_redis()).hset(_key(schedule_id), "last_job", job_id)
