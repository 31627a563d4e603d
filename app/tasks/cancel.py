"""Cooperative cancel for thread-pool work: a job looks for its cancel between units of work.

A thread pool cannot kill a running task, so `jobs.cancel` moves the record to REVOKED and the
job stops itself at its next check, then says how far it got (`confirm_stop`).
"""

from __future__ import annotations

import time
from typing import Any

from app.connection import get_registry
from app.errors import JobCancelled
from app.tasks.base import JobTask

CANCELLED = "The job was cancelled."


def is_cancelled(job_id: str) -> bool:
    """True once the user cancelled `job_id`; `jobs.cancel` moves its record to REVOKED."""
    return bool(job_id) and get_registry().state(job_id) == "REVOKED"


def stop_if_cancelled(task: JobTask) -> None:
    """Raise JobCancelled when the user has cancelled this run of `task`."""
    if task.request.called_directly:
        return
    if is_cancelled(task.job_id):
        raise JobCancelled(CANCELLED)


def confirm_stop(job_id: str, done: str, progress: dict[str, Any] | None = None) -> None:
    """The worker's word that a cancelled job stopped, and what it had done by then.

    jobs.cancel already ended the record; these fields add to it without moving its state.
    """
    fields: dict[str, Any] = {"error": done, "stopped_at": time.time()}
    if progress is not None:
        fields["progress"] = progress
    get_registry().update(job_id, **fields)
