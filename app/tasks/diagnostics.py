"""Diagnostic tasks that every queue's worker runs: a ping, and a sample job with progress."""

from __future__ import annotations

import time

from app.errors import PermanentError
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
