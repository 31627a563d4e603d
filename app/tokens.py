"""Personal API tokens: created by a person for their scripts, stored hashed, revocable.

    secret, token = tokens.create(user, "nightly export", expires_at=None)   # secret shown once
    tokens.authenticate(secret)      # the User it acts as; TokenRefused with a sentence otherwise
    tokens.revoke(token.id, user=user)

A secret is `nexus_` + 32 random bytes (URL-safe base64). Redis keeps only its SHA-256: the
record is keyed by the hash, so checking a token is one read, and nothing that reads Redis (or
a dump of it) can use one. A token acts as the person who made it, with the admin right they
had when they made it (or that AUTH_ADMINS gives them now): revoke the tokens of someone who
stops being an admin. Expired tokens stay listed, marked expired, for RETENTION_DAYS.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from app import audit
from app.auth import NotAllowed, User, owner_id
from app.connection import get_redis
from app.settings import get_settings

PREFIX = "nexus_"
MAX_NAME = 100
# Seconds between two writes of "last used": one per minute is precise enough to read and
# spares every API call a write.
LAST_USED_EVERY = 60.0


class TokenRefused(PermissionError):
    """The token cannot be used; the message is a sentence for the caller."""


@dataclass(frozen=True)
class Token:
    """What is kept about a token: everything but the secret."""

    id: str
    owner: str
    name: str
    created: float
    last_used: float | None = None
    expires: float | None = None
    admin: bool = False
    owner_name: str = ""

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= time.time()

    def user(self) -> User:
        """The person this token acts as."""
        admins = {owner_id(a) for a in get_settings().auth_admins}
        return User(self.owner, self.owner_name, is_admin=self.admin or self.owner in admins)


def _key(*parts: str) -> str:
    return ":".join((get_settings().registry_prefix, *parts))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)


def _decode(raw: dict[str, str]) -> Token:
    return Token(
        id=raw["id"], owner=raw["owner"], name=raw.get("name", ""),
        created=float(raw["created"]),
        last_used=float(raw["last_used"]) if raw.get("last_used") else None,
        expires=float(raw["expires"]) if raw.get("expires") else None,
        admin=raw.get("admin") == "1", owner_name=raw.get("owner_name", ""),
    )


def create(
    user: User, name: str, expires_at: float | None = None, client: str = ""
) -> tuple[str, Token]:
    """A new token for `user`: (the secret, shown once and never again; its record)."""
    name = " ".join((name or "").split())
    if not name:
        raise ValueError("Give the token a name, so you know later what uses it.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A token's name can be at most {MAX_NAME} characters.")
    if user.is_system:
        raise ValueError("The platform's own account cannot have API tokens.")
    if expires_at is not None and expires_at <= time.time():
        raise ValueError("A token's expiry must be in the future.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = Token(id=secrets.token_hex(6), owner=user.id, name=name, created=time.time(),
                  expires=expires_at, admin=user.is_admin, owner_name=user.name)
    record = {"id": token.id, "owner": token.owner, "name": name, "created": repr(token.created),
              "expires": repr(expires_at) if expires_at else "", "admin": "1" if user.is_admin
              else "", "owner_name": user.name, "last_used": ""}
    hashed = digest(secret)
    with get_redis().pipeline(transaction=True) as pipe:
        pipe.hset(_key("apitoken", hashed), mapping=record)
        pipe.set(_key("apitoken-id", token.id), hashed)
        pipe.zadd(_key("apitokens", user.id), {token.id: token.created})
        pipe.zadd(_key("apitokens"), {token.id: token.created})
        if expires_at:
            # Kept past its expiry so its owner still sees it, marked expired, for a while.
            keep_until = int(expires_at + get_settings().retention_days * 86400)
            pipe.expireat(_key("apitoken", hashed), keep_until)
            pipe.expireat(_key("apitoken-id", token.id), keep_until)
        pipe.execute()
    audit.record(user, "token.create", token.id, name, client)  # never the secret
    return secret, token


def authenticate(secret: str) -> User:
    """The user a token acts as; TokenRefused when it is unknown, revoked or expired."""
    if not looks_like_token(secret):
        raise TokenRefused("This API token is not valid.")
    key = _key("apitoken", digest(secret))
    raw = get_redis().hgetall(key)
    if not raw:
        raise TokenRefused("This API token is not valid: it is unknown or was revoked.")
    token = _decode(raw)
    if token.expired:
        when = datetime.fromtimestamp(token.expires or 0, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise TokenRefused(f"This API token expired on {when}; create a new one.")
    now = time.time()
    if token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
        get_redis().hset(key, "last_used", repr(now))
    return token.user()


def _by_ids(ids: list[str]) -> list[Token]:
    client = get_redis()
    with client.pipeline(transaction=False) as pipe:
        for token_id in ids:
            pipe.get(_key("apitoken-id", token_id))
        hashes = pipe.execute()
    with client.pipeline(transaction=False) as pipe:
        for hashed in hashes:
            pipe.hgetall(_key("apitoken", hashed or "-"))
        rows = pipe.execute()
    return [_decode(row) for row in rows if row]


def list_tokens(*, user: User, everyone: bool = False) -> list[Token]:
    """The user's tokens, newest first; with `everyone`, every person's (admins only)."""
    if everyone and not user.is_admin:
        raise NotAllowed("Only an admin can see everyone's API tokens.")
    index = _key("apitokens") if everyone else _key("apitokens", user.id)
    ids = get_redis().zrevrange(index, 0, -1)
    found = _by_ids(ids)
    gone = set(ids) - {t.id for t in found}
    if gone:  # their records outlived the retention after expiring
        get_redis().zrem(index, *gone)
    return found


def revoke(token_id: str, *, user: User, client: str = "") -> bool:
    """Delete one of the user's tokens (anyone's, for an admin); False when there is none."""
    client_redis = get_redis()
    hashed = client_redis.get(_key("apitoken-id", token_id or "-"))
    owner = client_redis.hget(_key("apitoken", hashed), "owner") if hashed else None
    if owner is None or not user.owns(owner):
        return False
    with client_redis.pipeline(transaction=True) as pipe:
        pipe.delete(_key("apitoken", hashed), _key("apitoken-id", token_id))
        pipe.zrem(_key("apitokens", owner), token_id)
        pipe.zrem(_key("apitokens"), token_id)
        pipe.execute()
    audit.record(user, "token.revoke", token_id, f"of {owner}", client)
    return True
