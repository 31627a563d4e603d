"""Diagnostic tasks that every queue's worker runs: a ping, a sample job with progress, and a
crash fixture the fault tests use (off unless a setting turns it on)."""

from __future__ import annotations

import os
import time

from app.errors import PermanentError
from app.settings import get_settings
from app.tasks.base import JobTask
from config.celery_config import celery_app


@celery_app.task(bind=True, base=JobTask)
def ping(self: JobTask, sent_at: float | None = None) -> dict:
    """Answer at once, saying which worker answered; `monitor.ping` times the round trip."""
    return {
        "worker": self.request.hostname,
        "queue": (self.request.delivery_info or {}).get("routing_key"),
        "sent_at": sent_at,
        "answered_at": time.time(),
    }


@celery_app.task(bind=True, base=JobTask)
def sample_job(
    self: JobTask, steps: int = 5, step_seconds: float = 0.5, fail: bool = False
) -> dict:
    """A job that takes a while and reports progress: for trying the platform end to end."""
    for step in range(steps):
        self.progress(step, steps, f"Step {step + 1} of {steps}")
        time.sleep(step_seconds)
    if fail:
        raise PermanentError("The sample job was asked to fail.")
    self.progress(steps, steps, "Done")
    return {"steps": steps, "worker": self.request.hostname}


@celery_app.task(bind=True, base=JobTask, internal=True)
def crash_worker(
    self: JobTask, how: str = "exit", megabytes: int = 0, files: list[dict] | None = None
) -> dict:
    """A test fixture: kill this worker process (`exit`) or allocate `megabytes` (`allocate`).

    `files` stands for the input that would cause it; it is checked as any job's input is.

    It stands in for a file that crashes a C library or eats memory, so the poison-input guard
    and the memory limit can be proven on a real worker. It refuses unless
    DIAGNOSTICS_CRASH_ENABLED is set, and it is internal: no person can submit it.
    """
    if not get_settings().diagnostics_crash_enabled:
        raise PermanentError("Crash diagnostics are turned off on this worker.")
    if how == "allocate":
        hoard = bytearray(megabytes * 2**20)  # past the address-space limit: MemoryError
        return {"allocated_mb": len(hoard) // 2**20}
    os._exit(70)  # as a segfault in a C library would: no cleanup, no result, no ack
