"""One Task Monitor refresh with 100,000 jobs in the registry, against 1,000 in the same run.

    .venv/bin/python bench/monitor.py [--jobs 100000]

A refresh reads what the page draws: queue stats over every priority list, worker heartbeats,
today's counts by state, and one page of 25 jobs — unfiltered, by state, by state and queue
(an intersection), and a text search. If the cost is O(page), the ratio stays near 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # keep bench/email.py from hiding the standard library's email

from app.auth import User  # noqa: E402
from app.runtime.redis_server import start as start_redis  # noqa: E402

BENCH = User("bench@localhost", "Benchmark", is_admin=True)

KINDS = ["process_pdf", "send_email", "analyze_document", "generate_analytics_report"]
QUEUES = ["files", "email", "ai", "reports"]
STATES = ["SUCCESS"] * 8 + ["FAILURE", "REVOKED"]


def fill(registry, count: int, prefix: str) -> None:
    """Write `count` finished job records the way workers would."""
    now = time.time()
    for i in range(count):
        job_id = f"{prefix}-{i:06d}"
        n = i % len(KINDS)
        registry.create(job_id, kind=KINDS[n], name=f"app.tasks.x.{KINDS[n]}", queue=QUEUES[n],
                        owner=f"user{i % 50}", params={"file": f"report-{i}.pdf"},
                        submitted_at=now - (count - i))
        registry.transition(job_id, STATES[i % len(STATES)], finished_at=now,
                            error="This PDF is password-protected." if i % 10 == 8 else None)


def refresh(jobs, monitor) -> None:
    monitor.queue_stats()
    jobs.counts_today(user=BENCH)
    jobs.list(limit=25, user=BENCH)
    jobs.list(state="FAILURE", limit=25, user=BENCH)
    jobs.list(state="SUCCESS", queue="files", offset=25, limit=25, user=BENCH)
    jobs.list(text="password", limit=25, user=BENCH)


def time_refreshes(jobs, monitor, runs: int = 30) -> list[float]:
    refresh(jobs, monitor)  # warm caches and scripts
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        refresh(jobs, monitor)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-monitor-"))
    small = start_redis(workdir / "small", appendonly=False)
    large = start_redis(workdir / "large", appendonly=False)
    try:
        import redis

        from app.registry import Registry

        for server, count in ((small, 1000), (large, args.jobs)):
            started = time.perf_counter()
            fill(Registry(redis.Redis.from_url(server.url, decode_responses=True)), count, "job")
            print(f"wrote {count:,} records in {time.perf_counter() - started:.1f} s")
        results = {}
        for server, count in ((small, 1000), (large, args.jobs)):
            results[count] = measure(server.url)
    finally:
        small.stop()
        large.stop()
    base, big = results[1000], results[args.jobs]
    print(f"{'refresh (ms)':16}{'1,000 jobs':>12}{f'{args.jobs:,} jobs':>14}{'ratio':>8}")
    for label, q in (("p50", 0.5), ("p95", 0.95)):
        a, b = percentile(base, q), percentile(big, q)
        print(f"{label:16}{a:12.2f}{b:14.2f}{b / a:8.2f}")
    print(f"target: p50 under 100 ms with {args.jobs:,} jobs "
          f"({'met' if percentile(big, 0.5) < 100 else 'MISSED'})")


def measure(url: str) -> list[float]:
    """Time refreshes with the app pointed at `url` (settings and connections rebuilt)."""
    os.environ["REDIS_URL"] = url
    from app import connection, jobs, monitor, settings

    settings.get_settings.cache_clear()
    connection.get_redis.cache_clear()
    connection.get_registry.cache_clear()
    return time_refreshes(jobs, monitor)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    main()
