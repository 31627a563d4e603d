"""What the HTTP API costs per job: a no-op job's round trip through the API and through app.jobs.

    .venv/bin/python bench/api.py [--runs 300]

Both run in the same process against the same private redis-server, the same worker and the
same job kind (`ping`): directly, `jobs.submit` + `jobs.wait`; through the API, POST
/api/v1/jobs with a bearer token, then GET /api/v1/jobs/{id}/events until the stream closes
at SUCCESS, over one kept-alive HTTP connection to a live uvicorn. Runs are interleaved so
drift hits both alike. Prints p50/p95 of each and their ratio (target: p50 at most 1.3x).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path, and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

import httpx  # noqa: E402

from app.auth import User  # noqa: E402
from app.runtime.redis_server import start as start_redis  # noqa: E402
from bench.overhead import percentile  # noqa: E402

BENCH = User("bench@localhost", "Benchmark")
TARGET = 1.3


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_api(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the API did not start")


def via_api(client: httpx.Client) -> None:
    """Submit, then follow the job's events until the stream closes at its end."""
    job = client.post("/api/v1/jobs", json={"kind": "ping"}).json()
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events") as answer:
        succeeded(b"".join(answer.iter_bytes()))


def via_api_one_request(client: httpx.Client) -> None:
    """Submit with `Accept: text/event-stream`: the answer is the job's event stream."""
    with client.stream("POST", "/api/v1/jobs", json={"kind": "ping"},
                       headers={"Accept": "text/event-stream"}) as answer:
        succeeded(b"".join(answer.iter_bytes()))


def succeeded(body: bytes) -> None:
    if b'"state":"SUCCESS"' not in body:
        raise RuntimeError(f"the job did not succeed: {body[-300:]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-api-"))
    server = start_redis(workdir / "redis", appendonly=False)
    port = 18000 + os.getpid() % 1000
    os.environ.update({"REDIS_URL": server.url, "STORAGE_DIR": str(workdir / "storage"),
                       "VAR_DIR": str(workdir / "var"), "PYTHONPATH": str(ROOT),
                       "JOBS_PER_MINUTE": str(10**9), "API_PORT": str(port),
                       "AUTH_MODE": "oidc"})
    from app import jobs, tokens

    env = dict(os.environ)
    worker = start([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
                    "-Q", "maintenance", "-P", "prefork", "-c", "2", "-n", "bench@localhost",
                    "--without-mingle", "--without-gossip", "-l", "WARNING"],
                   env, workdir / "worker.log")
    api = start([sys.executable, "-m", "app.api"], env, workdir / "api.log")
    secret, _ = tokens.create(BENCH, "bench")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_api(url)
        jobs.wait(jobs.submit("ping", user=BENCH), timeout=60, user=BENCH)  # the worker is up
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"},
                          timeout=30) as client:
            timings = measure(jobs, client, args.runs)
    finally:
        for process in (api, worker):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()
    report(timings, args.runs)


def measure(jobs, client: httpx.Client, runs: int) -> dict[str, list[float]]:
    """Round trips of each way, interleaved; the first 30 of each are a warm-up."""
    ways = {
        "app.jobs": lambda: jobs.wait(jobs.submit("ping", user=BENCH), timeout=30, user=BENCH),
        "API: POST + SSE": lambda: via_api(client),
        "API: one request": lambda: via_api_one_request(client),
    }
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(runs + 30):
        for name, way in ways.items():
            started = time.perf_counter()
            way()
            if i >= 30:
                timings[name].append(time.perf_counter() - started)
    return timings


def report(timings: dict[str, list[float]], runs: int) -> None:
    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    print(f"no-op job (ping), {runs} interleaved round trips each, one prefork worker "
          f"(2 processes), uvicorn (1 process), {os.cpu_count()} cores")
    direct = timings["app.jobs"]
    print(f"{'':20}{'p50 (ms)':>10}{'p95 (ms)':>10}{'p50 ratio':>11}{'p95 ratio':>11}")
    for name, values in timings.items():
        print(f"{name:20}{ms(values, .5):10.2f}{ms(values, .95):10.2f}"
              f"{ms(values, .5) / ms(direct, .5):11.2f}{ms(values, .95) / ms(direct, .95):11.2f}")
    ratio = ms(timings["API: POST + SSE"], 0.5) / ms(direct, 0.5)
    print(f"target: POST + SSE p50 ratio <= {TARGET} ({'met' if ratio <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
