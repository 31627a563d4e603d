"""Chunks: one Celery task that carries several jobs and runs each in turn, as itself.

A batch of 500 thumbnails as 500 Celery tasks spends most of its time on the cost of a task
(a message, an ack, a result, a chord count). A chunk carries many of those jobs in one
message and runs each through its own task's tracer under its own job id, in this process:
JobTask records the job's start, progress, outputs and end exactly as if its own message had
been delivered, and the failure handlers record its failure. A job that is already over
(finished, cancelled, or done before a worker was lost and the chunk came back) is skipped by
JobTask itself, and a job that fails, fails alone: the chunk goes on with the next one.

The carrier has no record of its own (recording.CARRIERS). Its jobs are recorded when the
batch plans them (recording.record_carried), and the batch's end settles any it never reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, signals
from celery.app.trace import build_tracer
from celery.exceptions import Retry
from celery.states import IGNORED, SUCCESS

from app.connection import get_registry, through_outage
from app.office import batch
from app.tasks import recording

log = logging.getLogger(__name__)

# A carried job's retry waits here, in the chunk, at most this long: the jobs after it wait too.
MAX_RETRY_WAIT = 30.0
# The parent hears how many jobs ended at most this often: a count per job would cost three
# round trips each, as much as a small file's own record keeping.
COUNT_INTERVAL = 0.25
# The parent's cancel is looked for before a job once this long has passed since the last look,
# as JobTask throttles progress: a cancel still stops the chunk within a small file or two.
CANCEL_CHECK_INTERVAL = 0.1

_tracers: dict[tuple[str, str], Any] = {}


def run(
    carrier: Task,
    parent_id: str,
    jobs: list[dict],
    tasks: Mapping[str, Task],
    count: Callable[[int], None] = lambda ended: None,
) -> dict:
    """Run each carried job (`job_id`, `type`, `kwargs`) with the task its type names, in order.

    Before each job the parent is looked at: once it is cancelled, the jobs not yet run end as
    cancelled and the chunk stops. `count(n)` hears, now and then, that n more jobs ended here
    (a job skipped as already over is not counted again). Returns the carried ids and counts.
    """
    ran = uncounted = 0
    counted_at = time.monotonic()
    looked_at, cancelled = -CANCEL_CHECK_INTERVAL, False
    for index, job in enumerate(jobs):
        if time.monotonic() - looked_at >= CANCEL_CHECK_INTERVAL:
            looked_at = time.monotonic()
            cancelled = _cancelled(parent_id)
        if cancelled:
            for rest in jobs[index:]:
                through_outage(lambda r=rest: recording.end_cancelled(
                    r["job_id"], batch.CANCELLED_WITH_BATCH), what="a cancelled file")
            break
        state = run_as_job(tasks[job["type"]], job["job_id"], job["kwargs"], parent_id=parent_id,
                           hostname=carrier.request.hostname, priority=_priority(carrier))
        if state != IGNORED:
            ran += 1
            uncounted += 1
        if uncounted and time.monotonic() - counted_at >= COUNT_INTERVAL:
            count(uncounted)
            uncounted, counted_at = 0, time.monotonic()
    if uncounted:
        count(uncounted)
    return {"jobs": [job["job_id"] for job in jobs], "ran": ran}


def run_as_job(
    task: Task, job_id: str, kwargs: dict[str, Any], *, parent_id: str, hostname: str | None,
    priority: int | None = None, retries: int = 0,
) -> str:
    """Run `task(**kwargs)` here as job `job_id`, as a worker runs a delivered message.

    Its own signals fire and JobTask records it; nothing goes to the result backend (the
    record is the outcome). A retry it asks for runs here after its countdown, capped at
    MAX_RETRY_WAIT seconds. Returns the run's Celery state (IGNORED: it was already over).
    """
    tracer = _tracer(task, hostname or "")
    while True:
        request = {
            "id": job_id, "task": task.name, "parent_id": parent_id, "root_id": parent_id,
            "retries": retries, "is_eager": True, "hostname": hostname, "headers": None,
            "ignore_result": True, "callbacks": None, "errbacks": None, "carried": True,
            "delivery_info": {"is_eager": True, "routing_key": "files", "priority": priority},
        }
        trace = tracer(job_id, (), kwargs, request)
        retval = trace.retval
        if isinstance(retval, ExceptionInfo):
            retval = retval.exception
        if not isinstance(retval, Retry):
            return trace.info.state if trace.info else SUCCESS
        retries += 1
        wait = retval.when if isinstance(retval.when, (int, float)) else 0
        time.sleep(min(MAX_RETRY_WAIT, max(0.0, float(wait))))


def _tracer(task: Task, hostname: str) -> Any:
    """One tracer per task and worker: building it looks up the task's handlers and signals."""
    key = (task.name, hostname)
    if key not in _tracers:
        # eager: the outcome is not stored in the result backend, and no chord is counted.
        _tracers[key] = build_tracer(task.name, task, hostname=hostname, eager=True,
                                     propagate=False, app=task.app)
    return _tracers[key]


def _cancelled(parent_id: str) -> bool:
    return through_outage(lambda: get_registry().state(parent_id), what="the batch's state") \
        == "REVOKED"


def _priority(carrier: Task) -> int | None:
    return (carrier.request.delivery_info or {}).get("priority")


@signals.task_revoked.connect
def confirm_carried_stopped(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A carrier terminated by a cancel: its cancelled jobs are confirmed stopped.

    A file alone in its chunk gives the chunk its id, so cancelling the file terminates the
    chunk as it would the file's own task; the file's end is then the chunk's.
    """
    if getattr(sender, "name", None) not in recording.CARRIERS or request is None:
        return
    try:
        registry = get_registry()
        for job in (getattr(request, "kwargs", None) or {}).get("jobs") or []:
            registry.mark_stopped(job["job_id"])
    except Exception:
        log.exception("Could not confirm the jobs of a cancelled chunk stopped")
