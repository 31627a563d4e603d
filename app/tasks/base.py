"""JobTask: the one base class every Nexus task uses.

It owns what no task should repeat: skipping redelivered work that is already done or cancelled,
classifying errors (permanent fails at once, transient retries with backoff), reporting progress,
and giving the task its input and output paths. State recording lives in `recording.py`, driven
by Celery signals, so it is right whoever published the task.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from typing import Any

from celery import Task
from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded

from app import storage
from app.connection import get_registry
from app.errors import JobCancelled, PermanentError, TransientError

BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
PROGRESS_INTERVAL = 0.1


def backoff_delay(retries: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: exponential with full jitter, never less than retry_after."""
    delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**retries)) + 1.0
    return max(delay, retry_after or 0.0)


def _display_name(ref: dict | str) -> str:
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    return "That file"


class JobTask(Task):
    """A task whose every run is a job in the registry."""

    abstract = True
    max_retries = 3
    transient_errors: tuple[type[BaseException], ...] = ()
    # Storage folders besides jobs/ that this task may read, for files the platform put there.
    trusted_input_roots: tuple[str, ...] = ()
    _last_progress = 0.0

    @property
    def job_id(self) -> str:
        return self.request.id

    @property
    def job_dir(self) -> Path:
        return storage.job_dir(self.job_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:
            return self.run(*args, **kwargs)
        registry = get_registry()
        started = registry.move(
            self.job_id,
            "STARTED",
            started_at=time.time(),
            retries=self.request.retries or 0,
            worker=self.request.hostname or socket.gethostname(),
        )
        if started == 0:
            # A redelivered message of finished or cancelled work: acknowledge and do nothing.
            raise Ignore()
        self._last_progress = 0.0
        result = self._run_classified(*args, **kwargs)
        # Recorded before Celery stores the result, so whoever the result wakes sees SUCCESS.
        registry.transition(
            self.job_id,
            "SUCCESS",
            finished_at=time.time(),
            result=result,
            outputs=storage.list_outputs(self.job_id),
            error=None,
        )
        return result

    def _run_classified(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task; transient errors become retries, timeouts become permanent errors."""
        try:
            return self.run(*args, **kwargs)
        except (Retry, Ignore, PermanentError, JobCancelled):
            raise
        except SoftTimeLimitExceeded:
            limit = self.soft_time_limit or self.app.conf.task_soft_time_limit
            raise PermanentError(
                f"The job took longer than its {limit}-second time limit and was stopped."
            ) from None
        except Exception as exc:
            if isinstance(exc, (TransientError, *self.transient_errors)):
                raise self._retry_or_give_up(exc) from exc
            raise

    def _retry_or_give_up(self, exc: Exception) -> Exception:
        if self.request.retries >= self.max_retries:
            return PermanentError(f"{exc} (gave up after {self.request.retries} retries)")
        countdown = backoff_delay(self.request.retries, getattr(exc, "retry_after", None))
        return self.retry(exc=exc, countdown=countdown, throw=False)

    def progress(self, current: int, total: int, message: str = "") -> None:
        """Report how far the job is; raises JobCancelled once the user has cancelled it."""
        now = time.monotonic()
        if current < total and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        if self.request.called_directly:
            return
        registry = get_registry()
        moved = registry.set_progress(self.job_id, current, total, message)
        if not moved and registry.state(self.job_id) == "REVOKED":
            raise JobCancelled("The job was cancelled.")

    def input_path(self, ref: dict | str) -> Path:
        """The local path of a stored file given to this job: only files of the owner's jobs."""
        root, scope = storage.scope_of(ref)
        if root == "jobs" and scope != self.job_id:
            registry = get_registry()
            with registry.redis.pipeline(transaction=False) as pipe:
                pipe.hget(registry.job_key(self.job_id), "owner")
                pipe.hget(registry.job_key(scope), "owner")
                mine, theirs = pipe.execute()
            if theirs is None or theirs != mine:
                raise PermanentError(f"{_display_name(ref)} is not a file of one of your jobs.")
        elif root != "jobs" and root not in self.trusted_input_roots:
            raise PermanentError(f"{_display_name(ref)} is not a file of one of your jobs.")
        return storage.resolve(ref)

    def output_path(self, name: str) -> Path:
        """A fresh path in this job's output folder; every file there becomes a job output."""
        return storage.output_path(self.job_id, name)
