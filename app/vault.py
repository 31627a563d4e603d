"""A job's secrets, encrypted and short-lived: kept only while the job may still run.

    ref = vault.seal(job_id, "password", "s3cret")   # {"$secret": "<job id>:password"}
    vault.open(ref, job_id)                           # "s3cret", or raises SecretGone
    vault.forget(job_id)                              # the job ended: drop its secrets

The broker message, task events (Flower) and the registry carry only the reference. Values are
encrypted with Fernet under SECRETS_KEY (else a key generated once in VAR_DIR/secrets.key), so
even a copy of Redis's data file does not show them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from app.connection import get_redis
from app.registry import is_secret_ref as is_ref  # noqa: F401 - the vault's own test
from app.settings import get_settings

# Seconds a secret outlives the visibility timeout: room for a queue's backlog and retries.
TTL_MARGIN = 3600
REF = "$secret"


class SecretGone(LookupError):
    """The secret is no longer kept (the job ended or it expired), or the ref is not this job's."""


def _key_file_secret() -> bytes:
    """The generated key in VAR_DIR/secrets.key, created once (mode 0600) by whoever is first."""
    path = get_settings().var_dir / "secrets.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    configured = get_settings().secrets_key
    secret = configured.get_secret_value().encode() if configured else _key_file_secret()
    # Any SECRETS_KEY text works: it is stretched into the 32 bytes Fernet wants.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))


def key(job_id: str) -> str:
    """The Redis key holding a job's secrets: deleting it forgets them (see `forget`)."""
    return f"{get_settings().registry_prefix}:vault:{job_id}"


_vault_key = key


def ttl() -> int:
    """Seconds a sealed secret is kept when its job never ends (a lost message, a purge)."""
    return get_settings().visibility_timeout + TTL_MARGIN


def seal(job_id: str, name: str, value: Any) -> dict[str, str]:
    """Keep `value` encrypted for `job_id` and return the reference that stands in for it."""
    token = _fernet().encrypt(json.dumps(value).encode()).decode()
    key = _vault_key(job_id)
    with get_redis().pipeline() as pipe:
        pipe.hset(key, name, token)
        pipe.expire(key, ttl())
        pipe.execute()
    return {REF: f"{job_id}:{name}"}


def open(ref: dict[str, str], job_id: str) -> Any:  # noqa: A001 - the vault's verb
    """The value a reference of `job_id` stands for; SecretGone when it is not kept any more."""
    owner, _, name = str(ref.get(REF, "")).partition(":")
    if owner != job_id or not name:
        # A reference only opens inside its own job: a crafted one cannot read another's.
        raise SecretGone(name or "secret")
    token = get_redis().hget(_vault_key(job_id), name)
    if token is None:
        raise SecretGone(name)
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretGone(name) from None


def forget(job_id: str) -> None:
    """Drop every secret of a job that has ended."""
    get_redis().delete(_vault_key(job_id))
