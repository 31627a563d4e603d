"""Flower, started as `make run` starts it, answers only with basic auth and sees the workers."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime.processes import flower_auth, flower_command
from app.settings import get_settings
from tests.support.processes import ROOT, Proc

pytestmark = pytest.mark.integration

PASSWORD = "flower-test-password"


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_port(command: list[str], port: int) -> list[str]:
    """The command with its `--port=` argument replaced by `port`."""
    assert any(arg.startswith("--port=") for arg in command), command
    return [f"--port={port}" if arg.startswith("--port=") else arg for arg in command]


def get(url: str, auth: tuple[str, str] | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """GET `url`, optionally with basic auth; returns (status, body) for any HTTP status."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_until_listening(proc: Proc, url: str, timeout: float = 60.0) -> None:
    """Return once Flower answers HTTP at `url`; fail with its log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            pytest.fail(f"Flower exited at start:\n{proc.log()[-3000:]}")
        try:
            get(url, timeout=1.0)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"Flower did not answer on {url} within {timeout:.0f} s:\n{proc.log()[-3000:]}")


@pytest.fixture(scope="module")
def flower(request: pytest.FixtureRequest, redis_url: str, session_dir: Path) -> Iterator[str]:
    """A real Flower on a free port with basic auth, on the session's Redis; yields its URL.

    The module's worker starts while Flower boots, which saves the wait for one of them.
    """
    port = free_port()
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    # `make run` creates var/ (worker_command does) before Flower, which saves its --db there.
    get_settings().var_dir.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env = {**inherited, "PYTHONPATH": str(ROOT), **flower_auth(PASSWORD)}
    log_path = logs / f"flower-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(with_port(flower_command(), port), cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc = Proc("flower", process, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        request.getfixturevalue("worker")
        wait_until_listening(proc, url + "/healthcheck")
        yield url
    finally:
        proc.stop(timeout=10)


def auth() -> tuple[str, str]:
    """The user and password that `flower_auth(PASSWORD)` gave Flower."""
    return get_settings().flower_user, PASSWORD


def test_flower_refuses_requests_without_auth(flower: str) -> None:
    """Without credentials, or with a wrong password, Flower answers 401."""
    assert get(flower + "/")[0] == 401
    assert get(flower + "/api/workers")[0] == 401
    assert get(flower + "/", auth=(auth()[0], "wrong"))[0] == 401


def test_flower_serves_dashboard_and_metrics_with_auth(flower: str) -> None:
    """With the right credentials the dashboard and Prometheus /metrics answer 200."""
    status, body = get(flower + "/", auth=auth())
    assert status == 200, body[:500]
    status, metrics = get(flower + "/metrics", auth=auth())
    assert status == 200, metrics[:500]
    assert "flower_" in metrics, f"no flower_ metric in /metrics:\n{metrics[:1000]}"


def test_flower_lists_the_running_worker(flower: str, worker: Proc) -> None:
    """A running worker appears in /api/workers (inspect) within a few seconds."""
    deadline = time.monotonic() + 12
    seen: dict = {}
    while time.monotonic() < deadline:
        status, body = get(flower + "/api/workers?refresh=1", auth=auth(), timeout=8)
        if status == 200:
            seen = json.loads(body)
            if worker.hostname in seen:
                break
        time.sleep(0.5)
    assert worker.hostname in seen, (
        f"{worker.hostname} not in Flower's workers {sorted(seen)}; last status {status}"
    )
    queues = {q["name"] for q in seen[worker.hostname].get("active_queues") or []}
    assert "maintenance" in queues, seen[worker.hostname]
