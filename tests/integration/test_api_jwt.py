"""JWTs from the sign-in provider, checked against its JWKS by a live API.

The provider here is a small real HTTP server with its own RSA key, serving an OpenID
discovery document and a JWKS, so the API runs PyJWKClient against a real endpoint and
tokens can be minted with any claims (expired, wrong audience, another key).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.api import ApiServer, start_api

pytestmark = pytest.mark.integration
CLIENT_ID = "nexus-api-test"


class Provider:
    """Discovery + JWKS on a free port; `mint(claims)` signs a token with its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:8]
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.url, "jwks_uri": f"{provider.url}/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [{**jwk, "kid": provider.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def mint(self, key=None, kid: str | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                "sub": uuid.uuid4().hex, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    server = Provider()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def api(session_dir, provider) -> Iterator[ApiServer]:
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    server = start_api(logs, AUTH_MODE="oidc", OIDC_CLIENT_ID=CLIENT_ID,
                       OIDC_METADATA_URL=f"{provider.url}/.well-known/openid-configuration")
    yield server
    server.proc.stop()


def whoami(api: ApiServer, token: str) -> httpx.Response:
    """Submit a ping as the token's person; the job's owner says who the API thinks they are."""
    return api.client(token).post("/api/v1/jobs", json={"kind": "ping"})


def test_a_provider_jwt_acts_as_its_person(api, provider) -> None:
    email = f"Jo-{uuid.uuid4().hex[:6]}@Example.com"
    answer = whoami(api, provider.mint(email=email, name="Jo"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner"] == email.lower()


def test_roles_come_from_the_groups_claim_as_in_the_ui(api, provider) -> None:
    token = provider.mint(email="boss@example.com", groups=["admins"])
    person = provider.mint(email=f"p-{uuid.uuid4().hex[:6]}@example.com")
    job = whoami(api, person).json()
    assert api.client(token).get(f"/api/v1/jobs/{job['id']}").status_code == 200  # admin
    other = provider.mint(email=f"q-{uuid.uuid4().hex[:6]}@example.com")
    assert api.client(other).get(f"/api/v1/jobs/{job['id']}").status_code == 404


@pytest.mark.parametrize(("claims", "sentence"), [
    ({"exp": int(time.time()) - 600}, "This sign-in token has expired; sign in again."),
    ({"aud": "someone-else"}, "This sign-in token is not valid: Audience doesn't match."),
    ({"iss": "http://evil.example"}, "This sign-in token is not valid: Invalid issuer."),
    ({}, "Your sign-in did not include an email address."),
])
def test_bad_jwts_are_refused(api, provider, claims, sentence) -> None:
    answer = whoami(api, provider.mint(**claims))
    assert answer.status_code == 401 and answer.json()["detail"] == sentence


def test_a_jwt_signed_by_another_key_is_refused(api, provider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = provider.mint(key=stranger, email="mallory@example.com")
    answer = whoami(api, forged)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "This sign-in token is not valid: Signature verification " \
        "failed."
    unknown_kid = provider.mint(key=stranger, kid="nope", email="mallory@example.com")
    answer = whoami(api, unknown_kid)
    assert answer.status_code == 401 and "not valid" in answer.json()["detail"]
