"""Idempotency-Key: the same key from the same person names the same job for a day.

The key is reserved for a fresh job id with SET NX before anything is queued, so two requests
racing with one key cannot queue two jobs: the loser reads the winner's id. A submit that is
refused releases the key, so fixing the request and sending it again works.
"""

from __future__ import annotations

import hashlib

from app.auth import User
from app.connection import get_redis
from app.settings import get_settings

TTL = 86_400
MAX_KEY = 200


def _key(user: User, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{get_settings().registry_prefix}:api-idempotency:{user.id}:{digest}"


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise ValueError(f"An Idempotency-Key must be 1 to {MAX_KEY} characters.")
    return key


def reserve(user: User, key: str, job_id: str) -> str | None:
    """Claim `key` for `job_id`; the job id it already names, or None when this claim won."""
    client = get_redis()
    if client.set(_key(user, key), job_id, nx=True, ex=TTL):
        return None
    return client.get(_key(user, key)) or None


def release(user: User, key: str, job_id: str) -> None:
    """Forget the key, if it still names `job_id` (the submit was refused)."""
    client = get_redis()
    if client.get(_key(user, key)) == job_id:
        client.delete(_key(user, key))
