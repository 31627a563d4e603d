"""People and the Nexus client in the embedded provider's data store, through Canaille's models.

Every function takes the provider's Flask app and runs inside its app context.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from flask import Flask

from app.idp.provider import ADMIN_GROUP

CLIENT_NAME = "Nexus"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    admin: bool
    disabled: bool


def new_password() -> str:
    return secrets.token_urlsafe(12)


def _backend():
    from canaille.backends import Backend

    return Backend.instance


def _find(email: str):
    from canaille.app import models

    email = email.strip().lower()
    return _backend().get(models.User, user_name=email)


def _admin_group():
    from canaille.app import models

    backend = _backend()
    group = backend.get(models.Group, display_name=ADMIN_GROUP)
    if group is None:
        group = models.Group(display_name=ADMIN_GROUP, description="Nexus administrators")
        backend.save(group)
    return group


def add(app: Flask, email: str, name: str = "", admin: bool = False) -> str:
    """Create a person who signs in with `email`; returns their generated password."""
    from canaille.app import models

    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address.")
    with app.app_context():
        if _find(email) is not None:
            raise ValueError(f"{email} already exists.")
        backend = _backend()
        user = models.User(user_name=email, emails=[email], display_name=name or None,
                           formatted_name=name or None, family_name=name or email)
        if admin:
            user.groups = [_admin_group()]
        backend.save(user)
        password = new_password()
        backend.set_user_password(user, password)
        return password


def reset(app: Flask, email: str) -> str:
    """Give a person a new generated password (and unlock them); returns it."""
    with app.app_context():
        user = _require(email)
        user.lock_date = None
        password = new_password()
        _backend().set_user_password(user, password)
        return password


def disable(app: Flask, email: str) -> None:
    """Lock a person out from now on; their data stays."""
    with app.app_context():
        user = _require(email)
        user.lock_date = datetime.datetime.now(datetime.UTC)
        _backend().save(user)


def people(app: Flask) -> list[Person]:
    """Everyone the provider knows, by email."""
    from canaille.app import models

    with app.app_context():
        return sorted(
            (
                Person(u.user_name, u.display_name or "",
                       any(g.display_name == ADMIN_GROUP for g in u.groups), u.locked)
                for u in _backend().query(models.User)
            ),
            key=lambda p: p.email,
        )


def _require(email: str):
    user = _find(email)
    if user is None:
        raise LookupError(f"No one signs in as {email}.")
    return user


def ensure_client(app: Flask, redirect_uri: str) -> tuple[str, str]:
    """The Nexus client (id, secret), registered on first use; its redirect URI kept current."""
    from canaille.app import models

    origin = redirect_uri.rsplit("/", 1)[0]
    with app.app_context():
        backend = _backend()
        client = backend.get(models.Client, client_name=CLIENT_NAME)
        if client is None:
            client = models.Client(
                client_id=secrets.token_urlsafe(18),
                client_secret=secrets.token_urlsafe(36),
                client_id_issued_at=datetime.datetime.now(datetime.UTC),
                client_name=CLIENT_NAME,
                # A client_uri on a trusted domain (127.0.0.1, *.localhost) skips the consent page.
                client_uri=origin,
                grant_types=["authorization_code", "refresh_token", "password"],
                response_types=["code"],
                scope=["openid", "profile", "email", "groups"],
                token_endpoint_auth_method="client_secret_basic",
                application_type="web",
                id_token_signed_response_alg="RS256",
            )
            backend.save(client)
            client.audience = [client]
        client.redirect_uris = [redirect_uri]
        client.post_logout_redirect_uris = [redirect_uri, origin, origin + "/"]
        backend.save(client)
        return client.client_id, client.client_secret
