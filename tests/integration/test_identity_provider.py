"""The embedded identity provider as `make run` starts it: discovery, people, tokens."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.signin import SignIn, identity_provider  # noqa: F401

pytestmark = pytest.mark.integration


def _client(idp: SignIn) -> dict:
    return json.loads((Path(idp.env["VAR_DIR"]) / "idp" / "nexus-client.json").read_text())


def token(idp: SignIn, email: str, password: str) -> dict:
    """A password-grant token for `email`, or the provider's error as a dict."""
    client = _client(idp)
    body = urllib.parse.urlencode({
        "grant_type": "password", "username": email, "password": password,
        "scope": "openid profile email groups",
    }).encode()
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    request = urllib.request.Request(f"{idp.url}/oauth/token", data=body,
                                     headers={"Authorization": f"Basic {basic.decode()}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def claims(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_discovery_document_answers(identity_provider: SignIn) -> None:  # noqa: F811
    with urllib.request.urlopen(f"{identity_provider.url}/.well-known/openid-configuration") as r:
        document = json.load(r)
    assert document["issuer"] == identity_provider.url
    assert document["authorization_endpoint"].startswith(identity_provider.url)


def test_first_run_made_an_admin_and_files_are_private(identity_provider: SignIn) -> None:  # noqa: F811
    assert identity_provider.admin_password
    data = Path(identity_provider.env["VAR_DIR"]) / "idp"
    for name in ("nexus-client.json", "provider.json", "canaille.sqlite"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    listed = identity_provider.run("app.users", "list").stdout
    assert "admin@nexus.localhost" in listed and "admin" in listed.split("\n")[0]


def test_added_person_gets_a_token_then_reset_and_disable(identity_provider: SignIn) -> None:  # noqa: F811
    password = identity_provider.add_user("Carol@Example.org", name="Carol")
    granted = token(identity_provider, "carol@example.org", password)
    assert "access_token" in granted, granted
    assert claims(granted["access_token"])["email"] == "carol@example.org"
    assert "error" in token(identity_provider, "carol@example.org", "wrong-password")

    new = identity_provider.run("app.users", "reset", "carol@example.org").stdout.split()[-1]
    assert "error" in token(identity_provider, "carol@example.org", password)
    assert "access_token" in token(identity_provider, "carol@example.org", new)

    identity_provider.run("app.users", "disable", "carol@example.org")
    assert "error" in token(identity_provider, "carol@example.org", new)


def test_admin_flag_reaches_the_groups_claim(identity_provider: SignIn) -> None:  # noqa: F811
    password = identity_provider.add_user("boss@example.org", admin=True)
    granted = token(identity_provider, "boss@example.org", password)
    assert "admins" in claims(granted["access_token"])["groups"]
