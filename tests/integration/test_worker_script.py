"""celery_worker.sh starts, reports and stops real processes, and its status tells the truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import monitor

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "celery_worker.sh"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _online(hostname_prefix: str) -> bool:
    return any(w.hostname.startswith(hostname_prefix) and w.online for w in monitor.workers())


def test_start_status_stop_and_a_crashed_worker(tmp_path: Path) -> None:
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "PYTHON": sys.executable,
           "STOP_TIMEOUT": "30"}
    started = _script("start", "reports", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "reports: started" in started.stdout
    deadline = time.monotonic() + 60
    while not _online("reports@") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _online("reports@")

    status = _script("status", env=env)
    assert "reports      running" in status.stdout
    assert "email        stopped" in status.stdout
    assert status.returncode == 1  # not everything runs

    again = _script("start", "reports", env=env)
    assert "already running" in again.stdout

    stopped = _script("stop", "reports", env=env)
    assert "reports: stopped" in stopped.stdout
    assert "reports      stopped" in _script("status", env=env).stdout

    _script("start", "maintenance", env=env)
    pid = int((tmp_path / "var" / "run" / "worker-maintenance.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert "maintenance  stopped" in _script("status", env=env).stdout  # no stale pid trusted
    assert "Unknown process" in _script("start", "nonsense", env=env).stderr
