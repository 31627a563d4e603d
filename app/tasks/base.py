"""JobTask: the one base class every Nexus task uses.

It owns what no task should repeat: skipping redelivered work that is already done or cancelled,
classifying errors (permanent fails at once, transient retries with backoff), reporting progress,
and giving the task its input and output paths. State recording lives in `recording.py`, driven
by Celery signals, so it is right whoever published the task.
"""

from __future__ import annotations

import errno
import os
import random
import re
import resource
import socket
import time
from pathlib import Path
from typing import Any

from celery import Task
from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded

from app import quotas, storage, vault
from app.connection import get_registry, is_outage, through_outage
from app.errors import JobCancelled, PermanentError, TransientError
from app.settings import get_settings
from app.tasks import params

BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
PROGRESS_INTERVAL = 0.1


def backoff_delay(retries: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: exponential with full jitter, never less than retry_after."""
    delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**retries)) + 1.0
    return max(delay, retry_after or 0.0)


_JOB_ID_PARAM = re.compile(r"(^|_)job_ids?$")


def _named_inputs(kwargs: dict[str, Any]) -> tuple[list[dict], list[str]]:
    """The storage refs and job ids a task's parameters name.

    Refs are parameters whose value is a stored-file ref or a list of them. Job ids are the
    values of parameters named *job_id or *job_ids, and the `job_id` of the entries of a list
    parameter (a batch's plan). Data (rows to export, a template's context) is not read as
    references, whatever its keys are called.
    """
    refs: list[dict] = []
    job_ids: list[Any] = []
    for name, value in kwargs.items():
        items = value if isinstance(value, list) else [value]
        refs += [item for item in items if _is_ref(item)]
        if _JOB_ID_PARAM.search(name):
            job_ids += items
        elif isinstance(value, list):
            job_ids += [e.get("job_id") for e in value if isinstance(e, dict) and not _is_ref(e)]
    return refs, [j for j in job_ids if isinstance(j, str) and j]


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("path"), str) and "name" in value


def _display_name(ref: dict | str) -> str:
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    return "That file"


# Faults of the storage itself, not of the input: no space, no inodes, read-only, too large.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
# Refusals that mean the storage folder is unwritable when they name a path inside it.
_UNWRITABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


def _is_storage_fault(exc: OSError) -> bool:
    if exc.errno in _STORAGE_ERRNOS:
        return True
    name = exc.filename if isinstance(exc.filename, str) else ""
    root = str(storage.root())
    return exc.errno in _UNWRITABLE_ERRNOS and (name == root or name.startswith(root + "/"))


def _storage_sentence(exc: OSError) -> str:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return (f"Nexus could not write this job's results to its storage ({reason}); "
            "the job was stopped. Ask an administrator to free space or fix the storage folder.")


def _memory_note() -> str:
    """The address-space limit this worker process runs under, as a clause; or none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return ""
    return f" Each worker process may use at most {soft // 2**20:,} MB of memory."


class JobTask(Task):
    """A task whose every run is a job in the registry."""

    abstract = True
    max_retries = 3
    transient_errors: tuple[type[BaseException], ...] = ()
    # Expected outcomes, not faults: the worker logs them at INFO with their sentence, no trace.
    throws = (PermanentError, JobCancelled)
    # Storage folders besides jobs/ that this task may read, for files the platform put there.
    trusted_input_roots: tuple[str, ...] = ()
    # Started only by the platform (chord callbacks, dispatchers, runners), never by app.jobs.
    internal = False
    _last_progress = 0.0

    @property
    def job_id(self) -> str:
        return self.request.id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:
            return self.run(*args, **kwargs)
        registry = get_registry()
        started, attempts, lost = through_outage(lambda: registry.start(
            self.job_id,
            started_at=time.time(),
            retries=self.request.retries or 0,
            worker=self.request.hostname or socket.gethostname(),
        ), what="the job's start")
        if started == 0:
            # A redelivered message of finished or cancelled work: acknowledge and do nothing.
            through_outage(lambda: registry.mark_stopped(self.job_id))
            raise Ignore()
        self._last_progress = 0.0
        # The message carries references; the task's signature gets the values they stand for.
        kwargs = params.unpack(self.job_id, kwargs)
        self._begin_attempt(attempts, lost, kwargs)
        self.check_owned_inputs(kwargs)
        result = self._run_classified(*args, **kwargs)
        # Held through a Redis outage: work that is done must be recorded as done, not failed.
        return through_outage(lambda: self._finish(registry, result), what="the job's success")

    def _begin_attempt(self, attempts: int, lost: int, kwargs: dict[str, Any]) -> None:
        """Set aside a job whose worker died too often; empty what an earlier attempt wrote.

        `attempts` and `lost` are the record's counts as this delivery started it. A delivery
        after a dead worker (or a retry) would otherwise write beside the files of the attempt
        that never finished, and the record would list both runs' outputs.
        """
        if lost >= get_settings().worker_loss_limit:
            what = "file" if _named_inputs(kwargs)[0] else "job"
            raise PermanentError(
                f"This {what} made the worker stop {lost} times; it was set aside."
                + _memory_note()
            )
        if attempts > 1:
            storage.delete_outputs(self.job_id)

    def _finish(self, registry: Any, result: Any) -> Any:
        """Record SUCCESS with the outputs; safe to repeat, so an outage may interrupt it."""
        # Outputs count against the owner's storage before anyone is woken to look at them. A
        # job with no folder has never had a byte counted, so there is nothing to settle.
        if storage.has_files(self.job_id):
            quotas.settle(self.job_id)
        # Recorded before Celery stores the result, so whoever the result wakes sees SUCCESS.
        # Its secrets go in the same step, before anyone is woken; unconditionally: a batch's
        # callback ends a job whose secrets its first message carried.
        succeeded = registry.transition(
            self.job_id,
            "SUCCESS",
            discard=[vault.key(self.job_id)],
            finished_at=time.time(),
            result=result,
            outputs=storage.list_outputs(self.job_id),
            error=None,
        )
        if not succeeded:
            registry.mark_stopped(self.job_id)  # cancelled, but it ran to its end regardless
        return result

    def _run_classified(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task; transient errors become retries, timeouts become permanent errors."""
        try:
            with storage.scratch(self.job_id):
                return self.run(*args, **kwargs)
        except (Retry, Ignore, PermanentError, JobCancelled):
            raise
        except SoftTimeLimitExceeded:
            limit = self.soft_time_limit or self.app.conf.task_soft_time_limit
            raise PermanentError(
                f"The job took longer than its {limit}-second time limit and was stopped."
            ) from None
        except MemoryError:
            raise PermanentError(
                "The job needed more memory than its worker process may use and was stopped."
                + _memory_note()
            ) from None
        except Exception as exc:
            if isinstance(exc, OSError) and _is_storage_fault(exc):
                raise PermanentError(_storage_sentence(exc)) from None
            if is_outage(exc):
                raise self._retry_after_outage(exc) from exc
            if isinstance(exc, (TransientError, *self.transient_errors)):
                raise self._retry_or_give_up(exc) from exc
            raise

    def _retry_after_outage(self, exc: BaseException) -> Exception:
        """Redis went away under the task: wait for it to answer, then retry with backoff."""
        through_outage(lambda: get_registry().redis.ping(), what="a retry")
        return self._retry_or_give_up(TransientError(f"Redis was not reachable ({exc})."))

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
        moved = through_outage(
            lambda: registry.set_progress(self.job_id, current, total, message), what="progress"
        )
        if not moved and through_outage(lambda: registry.state(self.job_id)) == "REVOKED":
            raise JobCancelled("The job was cancelled.")

    @property
    def owner(self) -> str:
        """Who the job belongs to: every input it reads must be theirs."""
        # Kept on the request, which is per run and per thread; the task object is shared.
        owner = getattr(self.request, "nexus_job_owner", None)
        if owner is None:
            owner = self._owner_of(self.job_id) or ""
            self.request.nexus_job_owner = owner
        return owner

    @property
    def by_admin(self) -> bool:
        """True when an admin submitted the job, so it may read everyone's history."""
        registry = get_registry()
        return registry.redis.hget(registry.job_key(self.job_id), "by_admin") == "1"

    def check_owned_inputs(self, kwargs: dict[str, Any]) -> None:
        """Refuse a job whose parameters name files or jobs of someone other than its owner."""
        refs, job_ids = _named_inputs(kwargs)
        for ref in refs:
            self._check_ref(ref)
        foreign = [j for j in job_ids if j != self.job_id and self._owner_of(j) != self.owner]
        if foreign:
            raise PermanentError(f"Job {foreign[0]} is not one of your jobs.")

    def _owner_of(self, job_id: str) -> str | None:
        registry = get_registry()
        return registry.redis.hget(registry.job_key(job_id), "owner")

    def _check_ref(self, ref: dict | str) -> None:
        try:
            root, scope = storage.scope_of(ref)
        except PermanentError:
            raise PermanentError(
                "A file must be an upload or an output of one of your jobs."
            ) from None
        if root == "jobs" and scope != self.job_id:
            if self._owner_of(scope) != self.owner:
                raise PermanentError(f"{_display_name(ref)} is not a file of one of your jobs.")
        elif root != "jobs" and root not in self.trusted_input_roots:
            raise PermanentError(f"{_display_name(ref)} is not a file of one of your jobs.")

    def input_path(self, ref: dict | str) -> Path:
        """The local path of a stored file given to this job: only files of the owner's jobs."""
        if not self.request.called_directly:
            self._check_ref(ref)
        return storage.resolve(ref)

    def output_path(self, name: str) -> Path:
        """A fresh path in this job's output folder; every file there becomes a job output."""
        return storage.output_path(self.job_id, name)
