"""The HTTP API as tests use it: a live `python -m app.api` (uvicorn) on a free port, and tokens.

    from tests.support.api import ApiServer, start_api, token_for

`start_api(log_dir, **env)` starts the server with the session's Redis and storage (plus `env`)
and returns once /health/live answers. `token_for(user)` makes a real API token through
app.tokens, the store the API page and `python -m app.users token create` use.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from app import tokens
from app.auth import User
from tests.support.processes import ROOT, Proc, _env
from tests.support.signin import free_port


@dataclass
class ApiServer:
    url: str
    proc: Proc

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_api(log_dir: Path, **env: str) -> ApiServer:
    port = free_port()
    log_path = log_dir / f"api-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.api"], cwd=ROOT,
            env=_env({"API_PORT": str(port), "API_HOST": "127.0.0.1", **env}),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", Proc("api", process, log_path))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not server.proc.alive():
            raise RuntimeError(f"the API exited at start:\n{server.proc.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health/live", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.proc.kill()
    raise RuntimeError(f"the API did not answer:\n{server.proc.log()[-3000:]}")


def serve_api(session_dir: Path) -> Iterator[ApiServer]:
    """A live API for a module's tests, logging beside the session's other processes."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    server = start_api(logs)
    yield server
    server.proc.stop()


def token_for(user: User, name: str = "tests", expires_at: float | None = None) -> str:
    secret, _ = tokens.create(user, name, expires_at=expires_at)
    return secret
