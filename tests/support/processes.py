"""Real worker and beat processes for integration tests, started as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
ALL_QUEUES = ("email", "files", "ai", "reports", "ocr", "maintenance")


@dataclass
class Proc:
    """A child process with its log file; `stop()` asks politely, then insists."""

    name: str
    process: subprocess.Popen
    log_path: Path
    hostname: str = ""
    extra: dict = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children die at once."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """A warm shutdown: SIGTERM to the main process only, which lets running tasks finish."""
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(overrides: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides or {})
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_worker(
    log_dir: Path,
    queues: tuple[str, ...] | list[str] = ALL_QUEUES,
    pool: str = "prefork",
    concurrency: int = 2,
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> Proc:
    """Start `celery worker` on the given queues and wait until its heartbeat is in Redis."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = log_dir / f"worker-{hostname.split('@')[0]}.log"
    full_env = _env(env)
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
        "-Q", ",".join(queues), "-n", hostname, "-P", pool, "-c", str(concurrency),
        "-E", "-l", "INFO", "--without-mingle", "--without-gossip",
        "--statedb", str(log_dir / f"{hostname.split('@')[0]}.state"),
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    proc = Proc("worker", process, log_path, hostname)
    _wait_for_heartbeat(proc, full_env["REDIS_URL"], ready_timeout)
    return proc


def _wait_for_heartbeat(proc: Proc, redis_url: str, timeout: float) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = os.environ.get("REGISTRY_PREFIX", "nexus")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.exists(f"{prefix}:worker:{proc.hostname}"):
            return
        if not proc.alive():
            raise RuntimeError(f"worker exited at start:\n{proc.log()[-3000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"worker did not become ready:\n{proc.log()[-3000:]}")


def start_beat(log_dir: Path, env: dict[str, str] | None = None) -> Proc:
    """Start `celery beat` (redbeat) and return once it has written its first tick."""
    log_path = log_dir / f"beat-{uuid.uuid4().hex[:6]}.log"
    command = [sys.executable, "-m", "celery", "-A", "config.celery_config", "beat",
               "-l", "INFO", "--max-interval", "1"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=_env(env), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    proc = Proc("beat", process, log_path)
    deadline = time.monotonic() + 30
    while "beat: Starting" not in proc.log() and "Starting" not in proc.log():
        if not proc.alive():
            raise RuntimeError(f"beat exited at start:\n{proc.log()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"beat did not start:\n{proc.log()[-3000:]}")
        time.sleep(0.1)
    return proc
