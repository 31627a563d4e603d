"""Streamlit's `[auth]` secrets, written from settings at start: never committed, mode 0600."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from app.idp import state
from app.settings import Settings


class UnsafeAuthMode(RuntimeError):
    """AUTH_MODE=none was asked for on an address other people can reach."""


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_auth_mode(settings: Settings, address: str | None = None) -> None:
    """Raise UnsafeAuthMode when sign-in is off and Streamlit listens beyond loopback."""
    address = address or settings.streamlit_address
    if settings.auth_mode == "none" and not is_loopback(address):
        raise UnsafeAuthMode(
            f"AUTH_MODE=none turns sign-in off, which is only allowed on 127.0.0.1; "
            f"Streamlit would listen on {address}. Unset AUTH_MODE or listen on 127.0.0.1."
        )


def client_file(settings: Settings) -> Path:
    """Where the embedded provider's registration of Nexus is kept."""
    return settings.var_dir / "idp" / "nexus-client.json"


def redirect_uri(settings: Settings) -> str:
    return settings.oidc_redirect_uri or (
        f"http://127.0.0.1:{settings.streamlit_port}/oauth2callback"
    )


def cookie_secret(settings: Settings) -> str:
    """AUTH_COOKIE_SECRET, else one generated once and kept in var/auth.json."""
    if settings.auth_cookie_secret:
        return settings.auth_cookie_secret.get_secret_value()
    return state.remembered(settings.var_dir / "auth.json", "cookie_secret")


def auth_section(settings: Settings) -> dict[str, Any]:
    """The [auth] table: the company provider from settings, else the embedded registration."""
    if settings.oidc_metadata_url:
        client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret
        secret = secret.get_secret_value() if secret else ""
        metadata = settings.oidc_metadata_url
        scope = "openid profile email"  # Google and others refuse scopes they do not know
    else:
        registered = state.load(client_file(settings))
        client_id, secret = registered.get("client_id"), registered.get("client_secret", "")
        metadata = f"{settings.idp_url}/.well-known/openid-configuration"
        scope = "openid profile email groups"
    if not client_id:
        raise RuntimeError("No OIDC client: set OIDC_CLIENT_ID, or start Nexus with `make run`.")
    return {
        "redirect_uri": redirect_uri(settings),
        "cookie_secret": cookie_secret(settings),
        "client_id": client_id,
        "client_secret": secret,
        "server_metadata_url": metadata,
        "client_kwargs": {"scope": scope},
    }


def _toml(section: dict[str, Any]) -> str:
    """A tiny TOML writer: JSON strings are valid TOML basic strings."""
    lines, tables = ["[auth]"], []
    for key, value in section.items():
        if isinstance(value, dict):
            tables.append(f"\n[auth.{key}]")
            tables += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines + tables) + "\n"


def write(settings: Settings) -> Path | None:
    """Write the secrets file Streamlit reads; None (and no file) when sign-in is off."""
    check_auth_mode(settings)
    if settings.auth_mode == "none":
        return None
    path = settings.auth_secrets_file
    state.write_private(path, _toml(auth_section(settings)))
    return path
