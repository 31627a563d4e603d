"""The command lines of every long-running process, in one place.

`make run` (app/run.py) and `celery_worker.sh` both start processes from these, so a worker
started either way reads the same queues with the same pool.

    python -m app.runtime.processes worker files     # prints the command for the files worker
    python -m app.runtime.processes names            # prints every process name
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass

from app.settings import QUEUES, get_settings

APP = "config.celery_config"


@dataclass(frozen=True)
class WorkerPlan:
    pool: str
    concurrency: int
    # Messages each pool slot reserves ahead (worker_prefetch_multiplier). Reserved messages
    # wait for this worker even when another is idle, and skip ahead of more urgent ones sent
    # later; that only pays off where tasks are short.
    prefetch: int = 1


def worker_plans() -> dict[str, WorkerPlan]:
    """Pool, concurrency and prefetch per queue: CPU-bound work on processes, I/O on threads.

    Long CPU queues reserve nothing ahead, so a long job never holds a short one hostage;
    queues of short tasks (maintenance's pings and sweeps, single sends) prefetch like Celery's
    default, and save a broker round trip per task.
    """
    cpus = os.cpu_count() or 2
    return {
        "files": WorkerPlan("prefork", max(2, cpus)),
        "reports": WorkerPlan("prefork", 2),
        # Single sends are short, but bulk sends share the queue: two each keeps the next send
        # in hand without parking a backlog of long bulk jobs on one replica.
        "email": WorkerPlan("threads", 8, prefetch=2),
        "ai": WorkerPlan("threads", 8),
        "ocr": WorkerPlan("prefork", get_settings().ocr_concurrency),
        "maintenance": WorkerPlan("prefork", 1, prefetch=4),
    }


def _python() -> str:
    return sys.executable


def worker_command(queue: str) -> list[str]:
    settings = get_settings()
    plan = worker_plans()[queue]
    state_dir = settings.var_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    return [
        _python(), "-m", "celery", "-A", APP, "worker",
        "-Q", queue,
        "-n", f"{queue}@%h",
        "-P", plan.pool,
        "-c", str(plan.concurrency),
        "--prefetch-multiplier", str(plan.prefetch),
        "-E",
        "--statedb", str(state_dir / f"worker-{queue}.db"),
        "-l", "INFO",
    ]


def beat_command() -> list[str]:
    return [_python(), "-m", "celery", "-A", APP, "beat", "-l", "INFO"]


def configured_flower_password() -> str | None:
    """FLOWER_PASSWORD from the settings; None when unset or empty.

    An empty `FLOWER_PASSWORD=` (the .env.example line uncommented) means "not chosen", so the
    launchers generate one as when it is unset; it never means "no auth".
    """
    secret = get_settings().flower_password
    return (secret.get_secret_value() or None) if secret else None


def flower_auth(password: str | None = None) -> dict[str, str]:
    """Environment giving Flower basic auth; kept out of argv, where `ps` would show it.

    Refuses to return an environment without a password: Flower without FLOWER_BASIC_AUTH
    serves every task's arguments to anyone who reaches its port.
    """
    password = password or configured_flower_password()
    if not password:
        raise ValueError("Flower needs a password: set FLOWER_PASSWORD or let the launcher "
                         "generate one.")
    return {"FLOWER_BASIC_AUTH": f"{get_settings().flower_user}:{password}"}


def flower_command() -> list[str]:
    """Flower with persistent state under var/; auth comes from `flower_auth`."""
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return [
        _python(), "-m", "celery", "-A", APP, "flower",
        f"--port={settings.flower_port}",
        "--address=127.0.0.1",
        "--persistent=True",
        f"--db={settings.var_dir / 'flower.db'}",
        "--state_save_interval=60000",
        "--purge_offline_workers=300",
    ]


def streamlit_command() -> list[str]:
    settings = get_settings()
    return [
        _python(), "-m", "app.runtime.web",
        "--server.address", settings.streamlit_address,
        "--server.port", str(settings.streamlit_port),
        "--server.headless", "true",
        "--server.maxUploadSize", str(settings.max_upload_mb),
        # A watcher would walk .venv and every job folder, and reload pages mid-job.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
    ]


def idp_command() -> list[str]:
    """The embedded identity provider (only when no OIDC_METADATA_URL is configured)."""
    return [_python(), "-m", "app.idp", "serve"]


def api_command() -> list[str]:
    """The HTTP API: uvicorn on API_HOST:API_PORT."""
    return [_python(), "-m", "app.api"]


def unoserver_command() -> list[str]:
    """A warm LibreOffice for Office -> PDF (only when soffice is installed)."""
    return [_python(), "-m", "app.runtime.unoserver"]


def metrics_command() -> list[str]:
    return [_python(), "-m", "app.runtime.metrics"]


def all_commands() -> dict[str, list[str]]:
    """Every process of the platform by name, workers first."""
    commands = {f"worker-{queue}": worker_command(queue) for queue in QUEUES}
    commands["beat"] = beat_command()
    commands["flower"] = flower_command()
    commands["streamlit"] = streamlit_command()
    commands["api"] = api_command()
    return commands


def main(argv: list[str]) -> int:
    if argv[:1] == ["names"]:
        print("\n".join(all_commands()))
        return 0
    if argv[:1] == ["worker"] and len(argv) == 2 and argv[1] in QUEUES:
        print(shlex.join(worker_command(argv[1])))
        return 0
    if len(argv) == 1 and argv[0] in ("beat", "flower", "streamlit", "api", "metrics", "idp"):
        print(shlex.join(globals()[f"{argv[0]}_command"]()))
        return 0
    print("usage: python -m app.runtime.processes names | worker QUEUE | beat | flower | streamlit",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
