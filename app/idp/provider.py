"""Canaille configured for Nexus: SQLite under the data folder, persistent keys, one admin group."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from app.idp import state

ADMIN_GROUP = "admins"
STATE_FILE = "provider.json"


def _new_jwk() -> dict[str, str]:
    from joserfc.jwk import JWKRegistry

    key = JWKRegistry.generate_key("RSA", 2048)
    key.ensure_kid()
    return key.as_dict(private=True)


def config(data_dir: Path, public_url: str) -> dict[str, Any]:
    """Canaille's configuration: keys from data_dir/provider.json, made on first use."""
    path = data_dir / STATE_FILE
    host = public_url.split("://", 1)[1].rstrip("/")
    return {
        "SECRET_KEY": state.remembered(path, "secret_key"),
        "SERVER_NAME": host,
        "PREFERRED_URL_SCHEME": public_url.split("://", 1)[0],
        # Nexus's own cookies live on the same host name: keep the provider's apart.
        "SESSION_COOKIE_NAME": "nexus_idp_session",
        "CANAILLE": {
            "NAME": "Nexus sign-in",
            "DATABASE": "sql",
            "JAVASCRIPT": False,
            "ENABLE_REGISTRATION": False,
            "ENABLE_PASSWORD_RECOVERY": False,
            "CAPTCHA_ENABLED": False,
            "LOGGING": {"version": 1, "disable_existing_loggers": False},
            "ACL": {
                "DEFAULT": {"PERMISSIONS": ["edit_self", "use_oidc"]},
                "ADMIN": {
                    "PERMISSIONS": [
                        "manage_oidc", "manage_users", "manage_all_groups", "delete_account",
                    ],
                    "WRITE": ["groups", "lock_date"],
                    "FILTER": [{"groups": ADMIN_GROUP}],
                },
            },
        },
        "CANAILLE_SQL": {"DATABASE_URI": f"sqlite:///{data_dir / 'canaille.sqlite'}"},
        "CANAILLE_OIDC": {"ACTIVE_JWKS": [state.remembered(path, "jwk", _new_jwk)]},
    }


def _quiet_migrations() -> None:
    """Migrations run at every start: only their problems are worth a line.

    flask-alembic sets the alembic logger to INFO unless it already has a handler.
    """
    logger = logging.getLogger("alembic")
    if not any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.StreamHandler())
    logger.setLevel(logging.WARNING)


def create_app(data_dir: Path, public_url: str) -> Flask:
    """The Canaille Flask app over data_dir, with its database migrated."""
    from canaille import create_app as canaille_app

    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if public_url.startswith("http://"):
        # Authlib refuses plain HTTP unless told; the embedded provider serves loopback only.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    _quiet_migrations()
    app = canaille_app(config=config(data_dir, public_url), init_backend=True)
    db = data_dir / "canaille.sqlite"
    if db.exists():
        os.chmod(db, 0o600)
    return app
