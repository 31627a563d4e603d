"""The embedded provider as Nexus uses it: data in var/idp, Nexus registered, a first admin."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.idp import accounts, provider, secrets_file, state
from app.settings import Settings

ADMIN_EMAIL = "admin@nexus.localhost"


def data_dir(settings: Settings) -> Path:
    return settings.var_dir / "idp"


def open_app(settings: Settings) -> Flask:
    """The provider's app over var/idp, for serving or for editing people."""
    return provider.create_app(data_dir(settings), settings.idp_url)


def prepare(settings: Settings) -> str | None:
    """Register Nexus and make the first admin; returns that admin's sign-in, on first run only."""
    app = open_app(settings)
    client_id, client_secret = accounts.ensure_client(app, secrets_file.redirect_uri(settings))
    state.save(secrets_file.client_file(settings),
               {"client_id": client_id, "client_secret": client_secret})
    if accounts.people(app):
        return None
    password = accounts.add(app, ADMIN_EMAIL, "Administrator", admin=True)
    return f"user {ADMIN_EMAIL}  password {password}"
