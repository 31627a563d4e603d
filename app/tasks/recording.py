"""Celery signal handlers that keep every job's record in the registry right.

Publishing creates the record (from the UI, beat, a chord or a parent task alike). JobTask
records STARTED and SUCCESS itself; these handlers record retries, failures (including those
the worker's main process sees: hard time limits, lost pool processes) and revocations.
Handlers never raise: a registry hiccup must not fail the work it describes, and a Redis
restart only delays them (they retry until Redis answers, up to REDIS_OUTAGE_PATIENCE).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial
from typing import Any

from celery import signals
from celery.exceptions import TimeLimitExceeded, WorkerLostError

from app import quotas, storage, vault
from app.auth import SYSTEM_OWNER
from app.connection import get_registry, through_outage
from app.errors import JobCancelled, JobError, PermanentError

log = logging.getLogger(__name__)

TASK_PREFIX = "app.tasks."
OWNER_HEADER = "nexus_owner"
ADMIN_HEADER = "nexus_admin"
RETRY_OF_HEADER = "nexus_retry_of"
# Set by a publisher that wrote the job's record itself, ahead of the message (a bulk submit).
RECORDED_HEADER = "nexus_recorded"


# Tasks that only carry other jobs (a chunk of a batch's files): they have no record of their
# own, and each job they carry records itself as it runs (app.tasks.chunks).
CARRIERS: set[str] = set()


def is_job(name: str | None) -> bool:
    return bool(name) and name.startswith(TASK_PREFIX) and name not in CARRIERS


def kind_of(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def error_text(exc: BaseException) -> str:
    """The sentence a user sees for a failure."""
    if isinstance(exc, JobError):
        return str(exc)
    if isinstance(exc, TimeLimitExceeded):
        return f"The job ran past its hard time limit ({exc}) and was stopped."
    if isinstance(exc, WorkerLostError):
        return "The worker running this job stopped unexpectedly."
    detail = str(exc) or "no details"
    return f"Unexpected error ({type(exc).__name__}): {detail}"


def _safely(handler, hold: bool = True):
    """Run a handler, holding it through a Redis outage; log, never raise, whatever else fails.

    Workers hold (the record must catch up with the work). A publisher does not: a submit
    during an outage must fail fast with a sentence, and the publish itself fails anyway.
    """

    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            through_outage(lambda: handler(*args, **kwargs), patience=None if hold else 0,
                           what=handler.__name__)
        except Exception:
            log.exception("Could not update the job registry in %s", handler.__name__)

    wrapper.__name__ = handler.__name__
    return wrapper


@signals.before_task_publish.connect
@partial(_safely, hold=False)
def record_published(sender=None, body=None, headers=None, routing_key=None, properties=None,
                     **_: Any) -> None:
    if not is_job(sender) or not headers or headers.get(RECORDED_HEADER):
        return
    kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else {}
    parent = headers.get("parent_id") or None
    registry = get_registry()
    owner = headers.get(OWNER_HEADER)
    if not owner and parent:
        owner = registry.redis.hget(registry.job_key(parent), "owner")
    # Nobody's header and no parent: beat, or the platform itself, published it.
    owner = owner or SYSTEM_OWNER
    eta = headers.get("eta")
    registry.create(
        headers["id"],
        kind=kind_of(sender),
        name=sender,
        queue=routing_key or "",
        owner=owner,
        params=kwargs,
        priority=(properties or {}).get("priority"),
        parent=parent,
        retry_of=_same_owner(registry, headers.get(RETRY_OF_HEADER), owner),
        eta=_epoch(eta) if eta else None,
        by_admin=bool(headers.get(ADMIN_HEADER)),
    )


def _same_owner(registry: Any, job_id: str | None, owner: str) -> str | None:
    """`job_id` when it is a job of `owner`: a retry link never crosses owners."""
    if not job_id or registry.redis.hget(registry.job_key(job_id), "owner") != owner:
        return None
    return job_id


@signals.task_retry.connect
@_safely
def record_retry(sender=None, request=None, reason=None, **_: Any) -> None:
    if not is_job(getattr(sender, "name", None)):
        return
    get_registry().transition(
        request.id,
        "RETRY",
        retries=(request.retries or 0) + 1,
        error=error_text(reason.exc if hasattr(reason, "exc") and reason.exc else reason),
    )


def record_carried(
    parent_id: str, jobs: list[dict[str, Any]], *, queue: str, priority: int | None = None
) -> int:
    """Record, as submitted, jobs that a carrier task will run; each is the parent's child.

    `jobs` holds each job's `job_id`, task `name`, `kwargs` and `chunk` (its carrier's id).
    Publishing records a job whose own message is sent; these ride in a carrier's message,
    so they are recorded here instead, in one round trip, owned as their parent is.
    """
    registry = get_registry()
    owner = registry.redis.hget(registry.job_key(parent_id), "owner") or SYSTEM_OWNER
    return registry.create_many([
        {"job_id": job["job_id"], "kind": kind_of(job["name"]), "name": job["name"],
         "queue": queue, "owner": owner, "params": job["kwargs"], "priority": priority,
         "parent": parent_id, "chunk": job.get("chunk")}
        for job in jobs
    ])


def end_unfinished(job_id: str, sentence: str) -> bool:
    """End as FAILURE a job whose carrier stopped before it: False when it had already ended."""
    if get_registry().state(job_id) in ("SUCCESS", "FAILURE", "REVOKED", None):
        return False
    _fail(job_id, PermanentError(sentence), None)
    return True


def end_cancelled(job_id: str, sentence: str) -> bool:
    """End as REVOKED a job that never started because its batch was cancelled."""
    vault.forget(job_id)
    registry = get_registry()
    moved = registry.transition(job_id, "REVOKED", finished_at=time.time(), error=sentence)
    registry.mark_stopped(job_id)
    return moved


@signals.task_failure.connect
@_safely
def record_failure(sender=None, task_id=None, exception=None, einfo=None, **_: Any) -> None:
    if not is_job(getattr(sender, "name", None)):
        return
    _fail(task_id, exception, einfo)


def _fail(task_id: str, exception: BaseException, einfo: Any) -> None:
    vault.forget(task_id)  # the job has ended, cancelled or failed: its secrets go
    registry = get_registry()
    registry.mark_stopped(task_id)  # a cancelled job that stopped, early or by failing
    if isinstance(exception, JobCancelled):
        return
    outputs: list[dict] = []
    try:
        quotas.settle(task_id)  # a failed job's partial outputs count too, before anyone looks
        outputs = storage.list_outputs(task_id)
    except OSError:
        # Broken storage is often why the job failed: the failure is recorded all the same.
        log.warning("Could not read the outputs of failed job %s", task_id, exc_info=True)
    registry.transition(
        task_id,
        "FAILURE",
        finished_at=time.time(),
        error=error_text(exception),
        traceback=str(einfo.traceback) if einfo else "",
        outputs=outputs,
    )


@signals.task_revoked.connect
@_safely
def record_revoked(sender=None, request=None, terminated=None, expired=None, **_: Any) -> None:
    if not is_job(getattr(sender, "name", None)):
        return
    vault.forget(request.id)
    message = "The job expired before it ran." if expired else "Cancelled by the user."
    registry = get_registry()
    registry.transition(request.id, "REVOKED", finished_at=time.time(), error=message)
    registry.mark_stopped(request.id)



def _epoch(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
