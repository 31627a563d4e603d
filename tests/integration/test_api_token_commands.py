"""Against the real embedded provider (Canaille): `python -m app.users token ...` makes tokens
for its accounts, and a JWT Canaille issues is accepted by the API through its JWKS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from app.idp import state
from app.idp.secrets_file import client_file
from app.settings import Settings
from tests.support.api import ApiServer, start_api
from tests.support.signin import SignIn, identity_provider  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(identity_provider: SignIn, session_dir) -> Iterator[ApiServer]:  # noqa: F811
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    keep = ("VAR_DIR", "IDP_PORT", "AUTH_SECRETS_FILE")
    server = start_api(logs, **{k: identity_provider.env[k] for k in keep}, AUTH_MODE="oidc")
    yield server
    server.proc.stop()


def provider_jwt(idp: SignIn, email: str, password: str) -> str:
    """A JWT access token for Nexus's client from Canaille's token endpoint, through the
    password grant Nexus's registration allows (a script would use its own client flow)."""
    registered = state.load(client_file(Settings(var_dir=idp.env["VAR_DIR"])))
    answer = httpx.post(f"{idp.url}/oauth/token", data={
        "grant_type": "password", "username": email, "password": password,
        "scope": "openid profile email groups",
    }, auth=(registered["client_id"], registered["client_secret"]), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_token_commands_create_list_and_revoke(identity_provider: SignIn, api) -> None:  # noqa: F811
    email = f"tok-{uuid.uuid4().hex[:6]}@example.com"
    identity_provider.add_user(email, name="Tok Person")
    made = identity_provider.run("app.users", "token", "create", email, "--name", "ci job")
    owner, _, token_id, secret = made.stdout.split()
    assert owner == email and secret.startswith("nexus_")
    jobs = httpx.get(f"{api.url}/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"})
    assert jobs.status_code == 200
    listed = identity_provider.run("app.users", "token", "list", email).stdout
    assert token_id in listed and "ci job" in listed and secret not in listed
    identity_provider.run("app.users", "token", "revoke", token_id)
    again = httpx.get(f"{api.url}/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


def test_a_token_for_an_unknown_account_is_refused(identity_provider: SignIn) -> None:  # noqa: F811
    import subprocess
    import sys

    from tests.support.processes import ROOT

    done = subprocess.run([sys.executable, "-m", "app.users", "token", "create",
                           "ghost@example.com", "--name", "x"], cwd=ROOT,
                          env=identity_provider.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "There is no active account for ghost@example.com" in done.stderr


def test_a_jwt_from_the_embedded_provider_is_accepted(identity_provider: SignIn,  # noqa: F811
                                                            api) -> None:
    email = f"jwt-{uuid.uuid4().hex[:6]}@example.com"
    password = identity_provider.add_user(email, name="Jay")
    token = provider_jwt(identity_provider, email, password)
    assert token.startswith("ey") and token.count(".") == 2
    answer = httpx.post(f"{api.url}/api/v1/jobs", json={"kind": "ping"},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner"] == email
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = httpx.get(f"{api.url}/api/v1/jobs", headers={"Authorization": f"Bearer {tampered}"})
    assert refused.status_code == 401 and json.loads(refused.text)["status"] == 401
