"""The one API the pages use: submit work, read its record, cancel it, retry it.

    job_id = jobs.submit("process_pdf", {"operations": ["extract_text"]}, files=[upload],
                         user=user)
    jobs.get(job_id, user=user)["state"]  # QUEUED, STARTED, PROGRESS, RETRY, SUCCESS, ...

A page never talks to Celery or Redis itself; everything goes through here. Every call takes
the acting `User` (app.auth): a person sees and acts on their own jobs, an admin on everyone's,
and another person's job answers exactly as a job that does not exist would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from celery import Task

from app import audit, quotas, storage, vault
from app.auth import User
from app.connection import get_registry, is_outage
from app.errors import PermanentError, Unavailable
from app.registry import TERMINAL, Page
from app.settings import get_settings
from app.tasks import params as wire
from app.tasks.recording import (
    ADMIN_HEADER,
    OWNER_HEADER,
    RECORDED_HEADER,
    RETRY_OF_HEADER,
    TASK_PREFIX,
    kind_of,
)
from config.celery_config import DEFAULT_PRIORITY, celery_app, queue_for_module

# Seconds `wait` gives a job's record to appear (a chain's next step is published late).
RECORD_GRACE = 2.0
# apply_async options of every job submitted here. Nothing reads a job's Celery result: its
# record holds the outcome and `wait` blocks on the registry. So the worker stores no result
# (nor a STARTED state) and the publisher subscribes to none. A batch's children, whose results
# its chord callback reads from the backend, are published by the batch task, not here.
PUBLISH_OPTIONS: dict[str, Any] = {"ignore_result": True}
# Jobs `submit_many` publishes per Redis pipeline.
PUBLISH_BATCH = 500


class UnknownKind(ValueError):
    """No task of that kind exists."""


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn "Redis or the broker cannot be reached" into Unavailable, with its sentence.

    Whatever the driver raises (redis-py, kombu, Celery's result backend) the caller sees one
    error a page or the API can show, and never waits more than the clients' short timeouts.
    """
    try:
        yield
    except Unavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise Unavailable() from exc
        raise


@lru_cache(maxsize=1)
def tasks_by_kind() -> dict[str, Task]:
    """Every job kind the platform runs, by its short name."""
    celery_app.loader.import_default_modules()
    return {
        kind_of(name): task
        for name, task in celery_app.tasks.items()
        if name.startswith(TASK_PREFIX)
    }


def is_internal(task: Task) -> bool:
    """Internal tasks (chord callbacks, dispatchers, runners) are started by the platform only."""
    return bool(getattr(task, "internal", False))


def kinds() -> list[str]:
    """The kinds a person may submit."""
    return sorted(kind for kind, task in tasks_by_kind().items() if not is_internal(task))


def new_job_id() -> str:
    return str(uuid.uuid4())


def store_files(job_id: str, files: Iterable[Any], owner: str | None = None) -> list[dict]:
    """Save uploads into the job's input folder; refs to stored files pass through unchanged.

    With `owner`, the uploads must fit in the owner's storage quota (QuotaExceeded otherwise).
    """
    files = [*files]
    if owner is not None:
        quotas.check_storage(owner, sum(_upload_size(item) for item in files))
    refs = _save_all(job_id, files)
    if owner is not None:
        _check_saved(job_id, owner, refs)
    return refs


def _upload_size(item: Any) -> int:
    """The bytes an upload will add, where it is known before reading it (0 for stored refs)."""
    if isinstance(item, tuple):
        return len(item[1]) if isinstance(item[1], (bytes, bytearray)) else 0
    if isinstance(item, (dict, storage.StoredFile)):
        return 0
    return int(getattr(item, "size", 0) or 0)


def _check_saved(job_id: str, owner: str, refs: list[dict]) -> None:
    """Streams of unknown size are measured as saved; over the quota, they go again."""
    added = sum(r["size"] for r in refs if r.get("job_id") == job_id)
    try:
        quotas.check_storage(owner, added)
    except quotas.QuotaExceeded:
        storage.delete_job_files(job_id)
        raise


def _save_all(job_id: str, files: Iterable[Any]) -> list[dict]:
    refs = []
    for item in files:
        if isinstance(item, dict):
            storage.check_exists(item)
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
    user: User,
    files: Iterable[Any] = (),
    files_param: str = "files",
    priority: int = DEFAULT_PRIORITY,
    eta: datetime | None = None,
    job_id: str | None = None,
    retry_of: str | None = None,
    client: str = "",
) -> str:
    """Queue a job owned by `user` and return its id at once. Priority 0 is the most urgent.

    Raises QuotaExceeded (with `retry_after` where waiting helps) when a quota refuses it, and
    Unavailable when Redis cannot be reached.
    """
    with _reachable():
        return _submit(kind, params, user=user, files=files, files_param=files_param,
                       priority=priority, eta=eta, job_id=job_id, retry_of=retry_of,
                       client=client)


def _submit(
    kind: str,
    params: dict[str, Any] | None,
    *,
    user: User,
    files: Iterable[Any],
    files_param: str,
    priority: int,
    eta: datetime | None,
    job_id: str | None,
    retry_of: str | None,
    client: str,
) -> str:
    task = _submittable(kind, user, priority, eta)
    if retry_of is not None and _visible(retry_of, user) is None:
        raise ValueError("There is no such job.")
    if job_id is not None and get_registry().state(job_id) is not None:
        # Reusing an id would run these parameters inside someone else's job.
        raise ValueError("That job id is already taken.")
    job_id = job_id or new_job_id()
    params = dict(params or {})
    files = [*files]
    if files and user.is_system:
        # Fail fast, before uploads are stored, when Redis is down; a person's submit has
        # already asked Redis for its quotas by then.
        get_registry().redis.ping()
    _check_quotas([(task, kind, params)], user)
    if files:
        params[files_param] = store_files(job_id, files, owner=user.id)
    headers = {OWNER_HEADER: user.id, ADMIN_HEADER: "1" if user.is_admin else ""}
    if retry_of:
        headers[RETRY_OF_HEADER] = retry_of
    task.apply_async(**wire.publish_options(job_id, params), priority=priority, eta=eta,
                     headers=headers, **PUBLISH_OPTIONS)
    if files:
        quotas.settle(job_id)  # the record exists now: count the uploads against the owner
    audit.record(user, "job.submit", job_id, kind, client)
    return job_id


def _submittable(kind: str, user: User, priority: int, eta: datetime | None) -> Task:
    """The task of `kind` when `user` may submit it with that priority and ETA; else raises."""
    task = tasks_by_kind().get(kind)
    if task is None or (is_internal(task) and not user.is_system):
        raise UnknownKind(f"There is no job called '{kind}'.")
    if not 0 <= priority <= 9:
        raise ValueError("Priority must be between 0 (most urgent) and 9.")
    _check_eta(eta)
    return task


def _check_quotas(planned: Sequence[tuple[Task, str, dict[str, Any]]], user: User) -> None:
    """The quotas a submit can check cheaply, for every job in `planned` together.

    The tasks check the rest as they work. Emails and jobs per minute count the whole batch:
    a batch that does not fit is refused whole.
    """
    if user.is_system:
        return
    emails, ai = 0, False
    for task, kind, params in planned:
        queue = queue_for_module(task.name.rsplit(".", 1)[0])
        ai = ai or queue == "ai"
        if queue == "email":
            recipients = params.get("recipients")
            bulk = kind == "send_bulk_emails" and bool(recipients)
            if bulk:
                quotas.check_bulk_recipients(user.id, len(recipients))
            emails += len(recipients) if bulk else 1
        if kind == "schedule_recurring_report":
            quotas.check_report_cron(params.get("cron"), user.id, user.is_admin)
    if ai:
        quotas.check_ai_tokens(user.id)
    if emails:
        quotas.check_emails(user.id, emails)
    # Last: a submit refused above uses no slot.
    quotas.take_job_slot(user.id, count=len(planned))


@dataclass(frozen=True)
class Submission:
    """One job for `submit_many`: what `submit` takes, less the user and the client."""

    kind: str
    params: dict[str, Any] | None = None
    files: Sequence[Any] = ()
    files_param: str = "files"
    priority: int = DEFAULT_PRIORITY
    eta: datetime | None = None


def submit_many(
    submissions: Iterable[Submission], *, user: User, client: str = ""
) -> list[str]:
    """Queue every job, owned by `user`, and return their ids in order; all or none are queued.

    Does what `submit` does for each, in a few round trips: the batch is checked whole (an
    unknown kind, a bad priority or a quota it does not fit refuses it before anything is
    stored), the records are written in one pipeline and the messages published in another.
    Raises as `submit` does.
    """
    with _reachable():
        return _submit_many([*submissions], user=user, client=client)


def _submit_many(submissions: Sequence[Submission], *, user: User, client: str) -> list[str]:
    tasks = [_submittable(i.kind, user, i.priority, i.eta) for i in submissions]
    if not tasks:
        return []
    ids = [new_job_id() for _ in tasks]
    params = [dict(i.params or {}) for i in submissions]
    files = [[*i.files] for i in submissions]
    if any(files):
        if user.is_system:
            get_registry().redis.ping()  # as in `submit`: fail before uploads are stored
        # Sizes known before reading count first, so a batch that cannot fit stores nothing.
        quotas.check_storage(user.id, sum(_upload_size(f) for fs in files for f in fs))
    _check_quotas([(t, i.kind, p) for t, i, p in zip(tasks, submissions, params)], user)
    uploads = [(job_id, p, i.files_param, fs)
               for job_id, p, i, fs in zip(ids, params, submissions, files) if fs]
    _store_batch(uploads, user.id)
    options = [wire.publish_options(job_id, p) for job_id, p in zip(ids, params)]
    # Every record before any message, in one round trip: a worker never starts a job that
    # has none. The messages say they are recorded, so the publish hook leaves them alone.
    get_registry().create_many([
        {"job_id": job_id, "kind": i.kind, "name": t.name, "owner": user.id,
         "queue": queue_for_module(t.name.rsplit(".", 1)[0]) or "",
         "params": o["kwargs"], "priority": i.priority,
         "eta": i.eta.timestamp() if i.eta else None, "by_admin": user.is_admin}
        for job_id, t, i, o in zip(ids, tasks, submissions, options)
    ])
    headers = {OWNER_HEADER: user.id, ADMIN_HEADER: "1" if user.is_admin else "",
               RECORDED_HEADER: "1"}
    jobs = [*zip(tasks, options, submissions)]
    with celery_app.producer_or_acquire() as producer:
        for start in range(0, len(jobs), PUBLISH_BATCH):
            # One pipeline per slice: the LPUSHes go to Redis together when the block ends.
            with producer.batch(max_size=2 * PUBLISH_BATCH):
                for task, option, item in jobs[start:start + PUBLISH_BATCH]:
                    task.apply_async(**option, priority=item.priority, eta=item.eta,
                                     headers=headers, producer=producer, **PUBLISH_OPTIONS)
    for job_id, *_ in uploads:
        quotas.settle(job_id)  # the records exist now: count the uploads against the owner
    audit.record_many(user, "job.submit", [(j, i.kind) for j, i in zip(ids, submissions)],
                      client)
    return ids


def _store_batch(uploads: Sequence[tuple[str, dict[str, Any], str, Sequence[Any]]],
                 owner: str) -> None:
    """Save each job's uploads into its params; over the owner's storage quota, none stay.

    Streams of unknown size are measured as they are saved, as `store_files` does.
    """
    saved: list[str] = []
    added = 0
    try:
        for job_id, params, files_param, files in uploads:
            saved.append(job_id)
            params[files_param] = refs = _save_all(job_id, files)
            added += sum(r["size"] for r in refs if r.get("job_id") == job_id)
        if uploads:
            quotas.check_storage(owner, added)
    except BaseException:
        for job_id in saved:
            storage.delete_job_files(job_id)
        raise


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


def _visible(job_id: str, user: User) -> dict[str, Any] | None:
    record = get_registry().get(job_id)
    if record is None or not user.owns(record.get("owner")):
        return None
    return record


def get(job_id: str, *, user: User) -> dict[str, Any] | None:
    """The job's record, or None when there is no such job or it is someone else's."""
    return _visible(job_id, user)


def list(  # noqa: A001 - the registry's verb, kept for the pages
    *,
    user: User,
    state: str | None = None,
    queue: str | None = None,
    kind: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    include_system: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """A page of the user's jobs (everyone's for an admin), newest first.

    Every filter given must match. `owner` narrows an admin's view to one person; the
    platform's own jobs show only with `include_system` (admins only).
    """
    if not user.is_admin:
        owner = user.id
    return get_registry().list(
        state=state, queue=queue, kind=kind, owner=owner, text=text, offset=offset,
        limit=limit, people_only=not (include_system and user.is_admin),
    )


def children(job_id: str, *, user: User) -> list[dict[str, Any]]:
    """The child jobs of one of the user's jobs (a batch's files, a chain's steps)."""
    if _visible(job_id, user) is None:
        return []
    return [c for c in get_registry().children(job_id) if user.owns(c.get("owner"))]


def counts_today(*, user: User) -> dict[str, int]:
    """Today's jobs (since midnight UTC) by state: the user's own, everyone's for an admin."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return get_registry().count_since(midnight.timestamp(), owner=user.scope())


def cancel(job_id: str, *, user: User, client: str = "") -> bool:
    """Cancel a queued or running job; False when it had already finished or is not theirs.

    Unavailable when Redis cannot be reached.
    """
    with _reachable():
        return _cancel(job_id, user=user, client=client)


def _cancel(job_id: str, *, user: User, client: str) -> bool:
    record = _visible(job_id, user)
    if record is None or record["state"] in TERMINAL:
        return False
    registry = get_registry()
    running = record["state"] in ("STARTED", "PROGRESS")
    now = time.time()
    if not registry.transition(
        job_id, "REVOKED", finished_at=now, cancel_requested_at=now,
        error="Cancelled by the user.",
    ):
        return False
    celery_app.control.revoke(job_id, terminate=running, signal="SIGTERM")
    vault.forget(job_id)
    if not _may_be_running(record, registry.get(job_id) or record):
        registry.mark_stopped(job_id, now)
    audit.record(user, "job.cancel", job_id, record["kind"], client)
    return True


def _may_be_running(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """True when a worker may still run a job just cancelled: it ran, or it started meanwhile.

    A worker sets `started_at` as it moves a job to STARTED, and no job moves out of REVOKED,
    so an unchanged `started_at` on a job that was not running proves nothing runs it now.
    """
    return before["state"] in ("STARTED", "PROGRESS") or (
        after.get("started_at") != before.get("started_at")
    )


def stopping(record: dict[str, Any]) -> bool:
    """True while a cancelled job waits for its worker to confirm that it stopped."""
    return (
        record["state"] == "REVOKED"
        and bool(record.get("cancel_requested_at"))
        and not record.get("stopped_at")
    )


def retry(job_id: str, *, user: User, client: str = "") -> str:
    """Submit a failed or cancelled job again with the same parameters, for the same owner.

    Unavailable when Redis cannot be reached.
    """
    with _reachable():
        return _retry(job_id, user=user, client=client)


def _retry(job_id: str, *, user: User, client: str) -> str:
    registry = get_registry()
    record = _visible(job_id, user)
    if record is None:
        raise ValueError("There is no such job.")
    if record["state"] not in ("FAILURE", "REVOKED"):
        raise ValueError("Only failed or cancelled jobs can be retried.")
    task = tasks_by_kind().get(record["kind"])
    if task is None or is_internal(task):
        raise ValueError("This job was started by the platform and cannot be retried by hand.")
    # The retry belongs to the job's owner, even when an admin asks for it.
    owner = user if record["owner"] == user.id else User(record["owner"])
    new_id = submit(
        record["kind"],
        _kept_params(job_id),
        user=owner,
        priority=record["priority"] if record["priority"] is not None else DEFAULT_PRIORITY,
        retry_of=job_id,
        client=client,
    )
    registry.remove_dead_letter(job_id)
    audit.record(user, "job.retry", job_id, f"retried as {new_id}", client)
    return new_id


def _kept_params(job_id: str) -> dict[str, Any]:
    """The kept kwargs of a job with their references read back; ValueError when one is gone."""
    try:
        return wire.unpack(job_id, get_registry().kwargs(job_id))
    except PermanentError as gone:
        # Secrets are dropped when a job ends: the person must give them again.
        raise ValueError(str(gone)) from None


def wait(job_id: str, timeout: float = 30.0, *, user: User) -> dict[str, Any]:
    """Block until the job finishes and return its record; TimeoutError after `timeout` s.

    LookupError when no job of the user's has that id. The next step of a chain is recorded
    only once its previous step finishes, so a missing record gets a moment to appear.
    """
    registry = get_registry()
    appear_by = time.monotonic() + min(timeout, RECORD_GRACE)
    while True:
        # One round trip: whose job it is, and its end when it has already finished.
        owner, record = registry.owner_and_end(job_id)
        if owner is not None and user.owns(owner):
            break
        if time.monotonic() >= appear_by:
            raise LookupError("There is no such job.")
        time.sleep(0.05)
    if record is None:
        record = registry.wait_done(job_id, timeout)
    if record is None or record["state"] not in TERMINAL:
        raise TimeoutError(f"Job {job_id} did not finish within {timeout} s.")
    return record


def dead_letters(*, user: User, offset: int = 0, limit: int = 50) -> Page:
    """Permanently failed jobs: the user's own, everyone's for an admin."""
    return get_registry().dead_letters(offset, limit, owner=user.scope())


def dismiss(job_id: str, *, user: User, client: str = "") -> bool:
    """Take a permanently failed job off the dead-letter list, keeping its record."""
    if _visible(job_id, user) is None:
        return False
    get_registry().remove_dead_letter(job_id)
    audit.record(user, "job.dismiss", job_id, client=client)
    return True


def _archive(job_id: str) -> str | None:
    if storage.has_files(job_id):
        return None
    return get_registry().redis.hget(get_registry().job_key(job_id), "archive") or None


def outputs(job_id: str, *, user: User) -> list[dict]:
    """The job's output files, from its folder or, once archived, from its archive."""
    record = _visible(job_id, user)
    if record is None:
        return []
    archive = _archive(job_id)
    if not archive:
        return storage.list_outputs(job_id)
    # The record already knows each output's type; sniffing would inflate every member.
    types = {o["name"]: o.get("type") for o in record.get("outputs") or [] if "name" in o}
    return storage.archived_outputs(archive, types)


def output_bytes(
    job_id: str, name: str, *, user: User, client: str = "", audited: bool = True
) -> bytes:
    """The bytes of one output file of a job; each download is audited.

    A page drawing a preview passes `audited=False`: it reruns often, and only a person's
    deliberate download belongs in the audit log.
    """
    archive = _archive(job_id)
    for output in outputs(job_id, user=user):
        if output["name"] == name:
            data = (storage.archived_bytes(archive, name) if archive
                    else storage.read_bytes(output))
            if audited:
                audit.record(user, "file.download", f"{job_id}/out/{name}", client=client)
            return data
    raise FileNotFoundError(f"Job {job_id} has no output called {name}.")


def zip_outputs(job_id: str, *, user: User, client: str = "") -> bytes:
    """Every output of the job in one zip; each download is audited."""
    if _visible(job_id, user) is None:
        raise FileNotFoundError(f"Job {job_id} has no outputs.")
    archive = _archive(job_id)
    data = storage.zip_archived_outputs(archive) if archive else storage.zip_outputs(job_id)
    audit.record(user, "file.download", f"{job_id}/out/*.zip", "all outputs", client)
    return data
