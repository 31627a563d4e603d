"""What the platform costs per job: bare Celery against app.jobs with the registry on.

    .venv/bin/python bench/overhead.py [--latency-runs 400] [--throughput-jobs 5000]

Both run in the same process against the same private redis-server and the same worker, on a
no-op task: bare `noop.delay().get()` and `jobs.submit("ping")` + `jobs.wait()`. Latency runs
are interleaved so drift hits both alike. Prints p50/p95 latency and throughput, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path, and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

from app.auth import User  # noqa: E402
from app.runtime.redis_server import start as start_redis  # noqa: E402

BENCH = User("bench@localhost", "Benchmark", is_admin=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
               "-Q", "maintenance", "-P", "prefork", "-c", "2", "-I", "bench.noop",
               "-n", "bench@localhost", "--without-mingle", "--without-gossip", "-l", "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=400)
    parser.add_argument("--throughput-jobs", type=int, default=5000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    server = start_redis(workdir / "redis", appendonly=False)
    os.environ.update({"REDIS_URL": server.url, "STORAGE_DIR": str(workdir / "storage"),
                       "VAR_DIR": str(workdir / "var"), "PYTHONPATH": str(ROOT),
                       # The quota check still runs (and costs what it costs); it never refuses.
                       "JOBS_PER_MINUTE": str(10**9)})
    from app import jobs
    from bench.noop import noop

    worker = start_worker(dict(os.environ), workdir / "worker.log")
    try:
        jobs.wait(jobs.submit("ping", user=BENCH), timeout=60, user=BENCH)  # the worker is up
        noop.delay().get(timeout=30)
        bare_lat, platform_lat = latency(noop, jobs, args.latency_runs)
        bare_tp = throughput_bare(noop, args.throughput_jobs)
        platform_tp = throughput_platform(jobs, args.throughput_jobs)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
    report(bare_lat, platform_lat, bare_tp, platform_tp, args)


def latency(noop, jobs, runs: int) -> tuple[list[float], list[float]]:
    bare, platform = [], []
    for i in range(runs + 50):
        started = time.perf_counter()
        noop.delay().get(timeout=30)
        middle = time.perf_counter()
        jobs.wait(jobs.submit("ping", user=BENCH), timeout=30, user=BENCH)
        ended = time.perf_counter()
        if i >= 50:  # warm-up excluded
            bare.append(middle - started)
            platform.append(ended - middle)
    return bare, platform


def throughput_bare(noop, count: int) -> float:
    started = time.perf_counter()
    results = [noop.delay() for _ in range(count)]
    for result in results:
        result.get(timeout=300)
    return count / (time.perf_counter() - started)


def throughput_platform(jobs, count: int) -> float:
    started = time.perf_counter()
    ids = [jobs.submit("ping", user=BENCH) for _ in range(count)]
    for job_id in ids:
        jobs.wait(job_id, timeout=300, user=BENCH)
    return count / (time.perf_counter() - started)


def report(bare, platform, bare_tp, platform_tp, args) -> None:
    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    print(f"no-op task, {args.latency_runs} round trips each, {args.throughput_jobs} jobs "
          f"for throughput, one prefork worker (2 processes), {os.cpu_count()} cores")
    print(f"{'':24}{'bare Celery':>14}{'platform':>14}{'ratio':>10}")
    print(f"{'latency p50 (ms)':24}{ms(bare, .5):14.2f}{ms(platform, .5):14.2f}"
          f"{ms(platform, .5) / ms(bare, .5):10.2f}")
    print(f"{'latency p95 (ms)':24}{ms(bare, .95):14.2f}{ms(platform, .95):14.2f}"
          f"{ms(platform, .95) / ms(bare, .95):10.2f}")
    print(f"{'latency mean (ms)':24}{statistics.mean(bare) * 1000:14.2f}"
          f"{statistics.mean(platform) * 1000:14.2f}")
    print(f"{'throughput (jobs/s)':24}{bare_tp:14.0f}{platform_tp:14.0f}"
          f"{platform_tp / bare_tp:10.2f}")
    p50_ratio = ms(platform, .5) / ms(bare, .5)
    print(f"targets: p50 ratio <= 1.15 ({'met' if p50_ratio <= 1.15 else 'MISSED'}), "
          f"throughput ratio >= 0.9 ({'met' if platform_tp / bare_tp >= 0.9 else 'MISSED'})")


if __name__ == "__main__":
    main()
