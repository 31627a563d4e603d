"""Fault: Redis, with append-only persistence as `make run` starts it, is SIGKILLed in the
middle of a run and restarted on the same data.

Its own Redis, not the session's: workers, beat and a web-app process are pointed at it.
Pass: every job whose submit returned an id finishes SUCCESS; submits during the outage fail
within seconds with the sentence, never a hang or a driver's exception; the web app, workers
and beat carry on by themselves once Redis is back; the page says Redis is not reachable
instead of showing a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from app.errors import Unavailable
from app.registry import Registry
from app.runtime import redis_server
from tests.chaos.stack import all_finished, running, states, wait_for
from tests.support.processes import ROOT, _env, start_beat, start_worker

pytestmark = pytest.mark.integration

CLIENT_SECONDS = 26
SUBMIT_EVERY = 0.2
UP_BEFORE_KILL = 6.0
OUTAGE = 6.0


def _python(module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _page(env: dict[str, str]) -> dict:
    out, _ = _python("tests.chaos.page_probe", env).communicate(timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def _dispatched_since(registry: Registry, since: float) -> bool:
    page = registry.list(kind="dispatch_due_emails", limit=20)
    return any(job["submitted_at"] > since for job in page.jobs)


def test_redis_killed_and_restarted_mid_run_loses_nothing(tmp_path: Path, log_dir) -> None:
    server = redis_server.start(tmp_path / "redis", appendonly=True)
    port = urlsplit(server.url).port
    env = {"REDIS_URL": server.url, "REDIS_OUTAGE_PATIENCE": "90"}
    registry = Registry(redis.Redis.from_url(server.url, decode_responses=True))
    processes = [start_worker(log_dir, queues=["maintenance"], concurrency=2, env=env),
                 start_worker(log_dir, queues=["maintenance"], pool="threads", concurrency=2,
                              env=env),
                 start_beat(log_dir, env=env)]
    client = _python("tests.chaos.web_client", env, str(CLIENT_SECONDS), str(SUBMIT_EVERY))
    try:
        time.sleep(UP_BEFORE_KILL)
        server.process.kill()  # SIGKILL: no save, no goodbye, as a crash or the OOM killer
        server.process.wait()
        down_at = time.time()
        page_down = _page(env)
        time.sleep(max(0.0, OUTAGE - (time.time() - down_at)))
        server = redis_server.start(tmp_path / "redis", port=port)
        up_at = time.time()
        out, _ = client.communicate(timeout=CLIENT_SECONDS + 60)
        submits = [json.loads(line) for line in out.splitlines()]
        ids = [s["id"] for s in submits if "id" in s]
        wait_for(lambda: all_finished(ids, registry), timeout=180, every=0.5,
                 what="every submitted job finished")
        wait_for(lambda: _dispatched_since(registry, up_at), timeout=60, every=1,
                 what="beat dispatching again")
        page_up = _page(env)
        alive = [p.alive() for p in processes]
        final, still_running = states(ids, registry), running(ids, registry)
    finally:
        client.kill()
        for proc in processes:
            proc.stop()
        server.stop()

    assert set(final.values()) == {"SUCCESS"}
    assert still_running == []
    refused = [s for s in submits if "error" in s]
    assert refused, "no submit fell in the outage"
    assert {(s["kind"], s["error"]) for s in refused} == {("Unavailable", Unavailable.SENTENCE)}
    assert max(s["seconds"] for s in refused) < 10
    assert any(s["at"] > up_at for s in submits if "id" in s)  # the web app reconnected
    assert any(s["at"] < down_at for s in submits if "id" in s)
    assert page_down == {"warnings": [Unavailable.SENTENCE], "exceptions": []}
    assert Unavailable.SENTENCE not in page_up["warnings"] and page_up["exceptions"] == []
    assert all(alive)
