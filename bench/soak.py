"""Soak: many mixed jobs over every queue on 4 workers; nothing lost, nothing doubled, memory flat.

    .venv/bin/python bench/soak.py [--jobs 10000] [--rate 25]

Against a private redis-server (append-only, as `make run` starts it), a real SMTP catcher
(aiosmtpd) and the wire-format fake AI provider. The 4 workers: files (prefork), email and ai
(threads), reports + ocr + maintenance (prefork). Jobs are submitted through app.jobs, paced at
`--rate` per second, then waited for. Pass criteria, each printed with its figure:

- 0 lost: every submitted job ends SUCCESS;
- 0 doubled: no job ran to success twice (no attempt beyond the first without a retry), the
  catcher received exactly one message per email job, the AI server one request per AI job;
- the registry's counts (per state, and per owner) agree with the jobs submitted;
- each worker's resident memory (main process plus pool children) grows under 10% from the
  end of warm-up (the first 10% of jobs) to the end.

Prints throughput, memory at warm-up and at the end per worker, and the counts; exits 1 on a
failed criterion.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/email.py must not hide the standard library's email package

from app.auth import User  # noqa: E402
from app.runtime.redis_server import start as start_redis  # noqa: E402
from tests.support.fake_ai import GOOD_KEY, FakeAIServer  # noqa: E402
from tests.support.mail_server import MailServer  # noqa: E402

SOAKER = User("soak@localhost", "Soak")
ADMIN = User("soak-admin@localhost", "Soak admin", is_admin=True)
WORKERS = {
    "files": (["files"], "prefork", 2),
    "email": (["email"], "threads", 4),
    "ai": (["ai"], "threads", 4),
    "other": (["reports", "ocr", "maintenance"], "prefork", 2),
}
# kind -> share of the load
MIX = {"process_image": 0.30, "send_email": 0.25, "claude_completion": 0.20,
       "export_data": 0.12, "sample_job": 0.10, "ocr_documents": 0.03}
WARM_UP = 0.10
MAX_GROWTH = 0.10


def environment(workdir: Path, redis_url: str, mail: MailServer, ai: FakeAIServer) -> dict:
    return {
        "REDIS_URL": redis_url, "STORAGE_DIR": str(workdir / "storage"),
        "VAR_DIR": str(workdir / "var"), "PYTHONPATH": str(ROOT),
        "JOBS_PER_MINUTE": str(10**9), "EMAILS_PER_DAY": str(10**9),
        "AI_TOKENS_PER_DAY": str(10**12), "AI_REQUESTS_PER_MINUTE": str(10**6),
        "AI_TOKENS_PER_MINUTE": str(10**9), "EMAIL_RATE_PER_MINUTE": str(10**6),
        "STORAGE_QUOTA_MB": str(10**6),
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail.port), "SMTP_SECURITY": "none",
        "MAIL_FROM": "Nexus <nexus@example.com>",
        "ANTHROPIC_API_KEY": GOOD_KEY, "ANTHROPIC_BASE_URL": ai.url,
    }


def start_worker(name: str, env: dict, logs: Path) -> subprocess.Popen:
    queues, pool, concurrency = WORKERS[name]
    command = [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker",
               "-Q", ",".join(queues), "-P", pool, "-c", str(concurrency),
               "-n", f"soak-{name}@localhost", "--without-mingle", "--without-gossip",
               "-l", "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(logs / f"{name}.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def job_for(kind: str, n: int, samples) -> tuple[dict, list]:
    """Parameters and files for the n-th job of a kind."""
    if kind == "process_image":
        return {"operations": ["thumbnail"]}, [(f"p{n}.png", samples["png"])]
    if kind == "send_email":
        return {"to": [f"soak{n}@example.com"], "subject": f"Soak {n}", "text": "Hello"}, []
    if kind == "claude_completion":
        return {"prompt": f"Soak question {n}"}, []
    if kind == "export_data":
        return {"records": [{"n": n, "name": "soak"}], "formats": ["csv", "json"]}, []
    if kind == "ocr_documents":
        return {}, [(f"scan{n}.png", samples["scan"])]
    return {"steps": 2, "step_seconds": 0.01}, []


def sample_files() -> dict[str, bytes]:
    from tests.unit.office import samples

    return {"png": samples.png_bytes((64, 48)), "scan": samples.png_bytes((120, 40), "white")}


def submit_all(jobs, count: int, rate: float, on_warm) -> dict[str, str]:
    """Submit `count` jobs of the mix, paced; returns job id -> kind."""
    rng = random.Random(15)
    kinds, weights = zip(*MIX.items())
    files = sample_files()
    submitted: dict[str, str] = {}
    started = time.monotonic()
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        params, uploads = job_for(kind, n, files)
        submitted[jobs.submit(kind, params, files=uploads, user=SOAKER)] = kind
        if n == int(count * WARM_UP):
            on_warm()
        lag = started + (n + 1) / rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    return submitted


def wait_ready(registry, names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    keys = [f"{registry.prefix}:worker:soak-{name}@localhost" for name in names]
    while registry.redis.exists(*keys) < len(keys):
        if time.monotonic() > deadline:
            raise SystemExit("The workers did not start; see their logs.")
        time.sleep(0.2)


def wait_all(registry, ids: list[str], timeout: float) -> None:
    from app.registry import TERMINAL

    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        with registry.redis.pipeline(transaction=False) as pipe:
            for job_id in pending:
                pipe.hget(registry.job_key(job_id), "state")
            pending = [j for j, s in zip(pending, pipe.execute()) if s not in TERMINAL]
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0, help="submits per second")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="nexus-soak-"))
    (workdir / "logs").mkdir()
    server = start_redis(workdir / "redis", appendonly=True)
    mail = MailServer().start()
    with FakeAIServer() as ai:
        env = {**os.environ, **environment(workdir, server.url, mail, ai)}
        os.environ.update(env)
        from app import jobs
        from app.connection import get_registry

        workers = {name: start_worker(name, env, workdir / "logs") for name in WORKERS}
        memory: dict[str, list[float]] = {name: [] for name in WORKERS}
        try:
            wait_ready(get_registry(), list(WORKERS))  # every worker is up before the clock
            jobs.wait(jobs.submit("ping", user=ADMIN), timeout=120, user=ADMIN)
            began = time.monotonic()

            def warm() -> None:
                for name, proc in workers.items():
                    memory[name].append(rss_mb(proc.pid))

            submitted = submit_all(jobs, args.jobs, args.rate, warm)
            wait_all(get_registry(), list(submitted), timeout=max(600, args.jobs))
            elapsed = time.monotonic() - began
            for name, proc in workers.items():
                memory[name].append(rss_mb(proc.pid))
            ok = report(get_registry(), submitted, elapsed, memory, mail, ai, jobs)
        finally:
            for proc in workers.values():
                proc.terminate()
            for proc in workers.values():
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            mail.stop()
            server.stop()
    sys.exit(0 if ok else 1)


def report(registry, submitted: dict[str, str], elapsed: float, memory, mail, ai, jobs) -> bool:
    ids = list(submitted)
    records = {r["id"]: r for r in registry.get_many(ids)}
    by_state: dict[str, int] = {}
    for r in records.values():
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
    lost = [j for j in ids if records.get(j, {}).get("state") != "SUCCESS"]
    doubled = [j for j, r in records.items() if r["attempts"] > 1 + r["retries"]]
    emails = sum(k == "send_email" for k in submitted.values())
    ai_jobs = sum(k == "claude_completion" for k in submitted.values())
    received, asked = len(mail.received), len(ai.requests())
    listed = jobs.list(user=SOAKER, limit=1).total
    counts = registry.count_since(0, owner=SOAKER.id)
    kinds = {k: sum(v == k for v in submitted.values()) for k in MIX}
    print(f"jobs: {len(ids):,} ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    print(f"time: {elapsed:.0f} s, throughput {len(ids) / elapsed:.1f} jobs/s")
    print(f"states: {by_state}; registry per owner: "
          f"{ {k: v for k, v in counts.items() if v} }; listed: {listed:,}")
    print(f"emails: {emails} jobs, {received} received; ai: {ai_jobs} jobs, {asked} requests")
    growth_ok = True
    for name, (start, end) in memory.items():
        growth = (end - start) / start
        growth_ok &= growth < MAX_GROWTH
        print(f"worker {name}: RSS {start:.0f} MB after warm-up, {end:.0f} MB at end "
              f"({growth:+.1%})")
    checks = {
        "0 lost": not lost,
        "0 doubled": not doubled and received == emails and asked == ai_jobs,
        "registry counts agree": listed == len(ids) and counts["SUCCESS"] == len(ids)
        and sum(counts.values()) == len(ids),
        "memory flat (growth < 10%)": growth_ok,
    }
    for check, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}: {check}")
    if lost:
        print("lost (first 5):", [(j, records.get(j, {}).get("state"),
                                   records.get(j, {}).get("error")) for j in lost[:5]])
    return all(checks.values())


if __name__ == "__main__":
    main()
