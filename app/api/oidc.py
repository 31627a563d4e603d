"""JWTs from the configured OpenID Connect provider, checked against the provider's JWKS.

The provider is the one the UI signs people in with: OIDC_METADATA_URL, or the embedded
provider's discovery document. A token is accepted when its signature verifies with a key
from the provider's `jwks_uri`, `iss` is the discovered issuer, `aud` holds Nexus's client id
(OIDC_CLIENT_ID, or the embedded registration) and it has not expired. Its claims then go
through `app.auth.user_from_claims`, so roles are resolved exactly as at a UI sign-in.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from app.auth import NotSignedIn, User, user_from_claims
from app.idp import secrets_file, state
from app.settings import Settings, get_settings

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
DISCOVERY_TTL = 300.0
LEEWAY = 30


class JwtRefused(PermissionError):
    """The JWT cannot be used; the message is a sentence for the caller."""


@dataclass
class _Provider:
    issuer: str
    audience: str
    keys: jwt.PyJWKClient
    fetched: float


_lock = threading.Lock()
_cache: dict[str, _Provider] = {}


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("ey")


def metadata_url(settings: Settings) -> str:
    if settings.oidc_metadata_url:
        return settings.oidc_metadata_url
    return f"{settings.idp_url}/.well-known/openid-configuration"


def client_id(settings: Settings) -> str | None:
    if settings.oidc_metadata_url:
        return settings.oidc_client_id
    return state.load(secrets_file.client_file(settings)).get("client_id")


def _provider(settings: Settings) -> _Provider:
    """The discovered issuer and a JWKS client, refreshed every DISCOVERY_TTL seconds."""
    url = metadata_url(settings)
    with _lock:
        known = _cache.get(url)
        if known and time.monotonic() - known.fetched < DISCOVERY_TTL:
            return known
    audience = client_id(settings)
    if not audience:
        raise JwtRefused("Sign-in tokens are not accepted: Nexus has no OIDC client id.")
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            discovery: dict[str, Any] = json.load(answer)
    except (OSError, ValueError) as exc:
        raise JwtRefused(f"The sign-in provider did not answer ({exc}).") from None
    provider = _Provider(discovery["issuer"], audience,
                         jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True, timeout=5),
                         time.monotonic())
    with _lock:
        _cache[url] = provider
    return provider


def verify(token: str, settings: Settings | None = None) -> User:
    """The user a provider-issued JWT names; JwtRefused with a sentence otherwise."""
    settings = settings or get_settings()
    provider = _provider(settings)
    try:
        key = provider.keys.get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=provider.audience,
                            issuer=provider.issuer, leeway=LEEWAY,
                            options={"require": ["exp", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise JwtRefused("This sign-in token has expired; sign in again.") from None
    except jwt.PyJWKClientError as exc:
        raise JwtRefused(f"This sign-in token is not valid: {exc}") from None
    except jwt.InvalidTokenError as exc:
        raise JwtRefused(f"This sign-in token is not valid: {exc}.") from None
    try:
        return user_from_claims(claims, settings)
    except NotSignedIn as exc:
        raise JwtRefused(str(exc)) from None
