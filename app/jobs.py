"""The one API the pages use: submit work, read its record, cancel it, retry it.

    job_id = jobs.submit("process_pdf", {"operations": ["text"]}, files=[upload])
    jobs.get(job_id)["state"]  # QUEUED, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, REVOKED

A page never talks to Celery or Redis itself; everything goes through here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from celery import Task

from app import storage
from app.connection import get_registry
from app.registry import TERMINAL, Page
from app.settings import get_settings
from app.tasks.recording import OWNER_HEADER, RETRY_OF_HEADER, TASK_PREFIX, kind_of
from config.celery_config import DEFAULT_PRIORITY, celery_app


class UnknownKind(ValueError):
    """No task of that kind exists."""


@lru_cache(maxsize=1)
def tasks_by_kind() -> dict[str, Task]:
    """Every job kind the platform runs, by its short name."""
    celery_app.loader.import_default_modules()
    return {
        kind_of(name): task
        for name, task in celery_app.tasks.items()
        if name.startswith(TASK_PREFIX)
    }


def kinds() -> list[str]:
    return sorted(tasks_by_kind())


def new_job_id() -> str:
    return str(uuid.uuid4())


def store_files(job_id: str, files: Iterable[Any]) -> list[dict]:
    """Save uploads into the job's input folder; refs to stored files pass through unchanged."""
    refs = []
    for item in files:
        if isinstance(item, dict):
            storage.resolve(item)
            refs.append(item)
        elif isinstance(item, storage.StoredFile):
            refs.append(item.as_ref())
        elif isinstance(item, tuple):
            name, data = item
            refs.append(storage.save_upload(job_id, name, data).as_ref())
        else:
            refs.append(storage.save_upload(job_id, item.name, _stream(item)).as_ref())
    return refs


def _stream(upload: Any) -> Any:
    if hasattr(upload, "seek"):
        upload.seek(0)
    return upload


def submit(
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    files: Iterable[Any] = (),
    files_param: str = "files",
    owner: str | None = None,
    priority: int = DEFAULT_PRIORITY,
    eta: datetime | None = None,
    job_id: str | None = None,
    retry_of: str | None = None,
) -> str:
    """Queue a job and return its id at once. Priority 0 is the most urgent, 9 the least."""
    task = tasks_by_kind().get(kind)
    if task is None:
        raise UnknownKind(f"There is no job called '{kind}'.")
    if not 0 <= priority <= 9:
        raise ValueError("Priority must be between 0 (most urgent) and 9.")
    _check_eta(eta)
    job_id = job_id or new_job_id()
    params = dict(params or {})
    files = [*files]
    if files:
        params[files_param] = store_files(job_id, files)
    headers = {OWNER_HEADER: owner or get_settings().default_owner}
    if retry_of:
        headers[RETRY_OF_HEADER] = retry_of
    task.apply_async(kwargs=params, task_id=job_id, priority=priority, eta=eta, headers=headers)
    return job_id


def _check_eta(eta: datetime | None) -> None:
    """Refuse far-future ETAs: Redis would deliver them twice once the visibility timeout passes."""
    if eta is None:
        return
    if eta.tzinfo is None:
        raise ValueError("An ETA needs a time zone.")
    horizon = get_settings().visibility_timeout * 0.9
    if (eta - datetime.now(UTC)).total_seconds() > horizon:
        raise ValueError(
            f"An ETA more than {int(horizon // 60)} minutes ahead is not safe on Redis; "
            "use a scheduled email or a recurring report instead."
        )


def get(job_id: str) -> dict[str, Any] | None:
    """The job's record, or None."""
    return get_registry().get(job_id)


def list(  # noqa: A001 - the registry's verb, kept for the pages
    *,
    state: str | None = None,
    queue: str | None = None,
    kind: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """A page of jobs, newest first; every filter given must match."""
    return get_registry().list(
        state=state, queue=queue, kind=kind, owner=owner, text=text, offset=offset, limit=limit
    )


def children(job_id: str) -> list[dict[str, Any]]:
    return get_registry().children(job_id)


def counts_today() -> dict[str, int]:
    """Today's jobs (since midnight UTC) by state."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return get_registry().count_since(midnight.timestamp())


def cancel(job_id: str) -> bool:
    """Cancel a queued or running job; False when it had already finished."""
    registry = get_registry()
    record = registry.get(job_id)
    if record is None or record["state"] in TERMINAL:
        return False
    running = record["state"] in ("STARTED", "PROGRESS")
    registry.transition(
        job_id, "REVOKED", finished_at=time.time(), error="Cancelled by the user."
    )
    celery_app.control.revoke(job_id, terminate=running, signal="SIGTERM")
    return True


def retry(job_id: str) -> str:
    """Submit a finished, failed or cancelled job again with the same parameters."""
    registry = get_registry()
    record = registry.get(job_id)
    if record is None:
        raise ValueError("There is no such job.")
    if record["state"] not in ("FAILURE", "REVOKED"):
        raise ValueError("Only failed or cancelled jobs can be retried.")
    new_id = submit(
        record["kind"],
        registry.kwargs(job_id),
        owner=record["owner"],
        priority=record["priority"] if record["priority"] is not None else DEFAULT_PRIORITY,
        retry_of=job_id,
    )
    registry.remove_dead_letter(job_id)
    return new_id


def wait(job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Block until the job finishes and return its record; TimeoutError after `timeout` s."""
    record = get_registry().wait_done(job_id, timeout)
    if record is None or record["state"] not in TERMINAL:
        raise TimeoutError(f"Job {job_id} did not finish within {timeout} s.")
    return record


def dead_letters(offset: int = 0, limit: int = 50) -> Page:
    return get_registry().dead_letters(offset, limit)


def dismiss(job_id: str) -> None:
    """Take a permanently failed job off the dead-letter list, keeping its record."""
    get_registry().remove_dead_letter(job_id)


def _archive(job_id: str) -> str | None:
    if storage.job_dir(job_id).is_dir():
        return None
    return get_registry().redis.hget(get_registry().job_key(job_id), "archive") or None


def outputs(job_id: str) -> list[dict]:
    """The job's output files, from its folder or, once archived, from its archive."""
    archive = _archive(job_id)
    return storage.archived_outputs(archive) if archive else storage.list_outputs(job_id)


def output_bytes(job_id: str, name: str) -> bytes:
    """The bytes of one output file of a job."""
    archive = _archive(job_id)
    for output in outputs(job_id):
        if output["name"] == name:
            if archive:
                return storage.archived_bytes(archive, name)
            return storage.resolve(output).read_bytes()
    raise FileNotFoundError(f"Job {job_id} has no output called {name}.")


def zip_outputs(job_id: str) -> bytes:
    archive = _archive(job_id)
    return storage.zip_archived_outputs(archive) if archive else storage.zip_outputs(job_id)
