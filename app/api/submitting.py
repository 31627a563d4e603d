"""Queueing a job from an API request: check params, store uploads, honour Idempotency-Key.

Everything that matters about a submit (quotas, upload caps, safe names, type sniffing, the
audit entry, who owns the job) happens in `app.jobs.submit`, exactly as for the pages.
"""

from __future__ import annotations

import time
from typing import Any

from app import jobs, storage
from app.api import idempotency, signatures
from app.api.problems import Problem, not_found
from app.api.uploads import Upload
from app.auth import User
from app.quotas import QuotaExceeded

RECORD_WAIT = 5.0  # seconds a replayed key waits for the racing request's job to appear


def _unknown_kind(name: str) -> Problem:
    sentence = f"There is no job called '{name}'."
    return Problem(422, sentence, errors=[{"parameter": "kind", "message": sentence}])


def _check_uploads(kind: signatures.Kind, uploads: dict[str, list[Upload]]) -> None:
    wrong = [field for field in uploads if field not in kind.file_parameters]
    if wrong:
        takes = ", ".join(kind.file_parameters) or "none"
        sentence = (f"{kind.name} takes no files as '{wrong[0]}'; its file parameters are: "
                    f"{takes}.")
        raise Problem(422, sentence, errors=[{"parameter": wrong[0], "message": sentence}])


def submit(
    kind_name: str, params: dict[str, Any], priority: int, uploads: dict[str, list[Upload]],
    *, user: User, key: str | None, client: str,
) -> tuple[dict[str, Any], bool]:
    """Queue the job and return (its record, True); (the earlier job's record, False) when the
    Idempotency-Key already names one. Blocking: call it in a thread."""
    kind = signatures.kinds().get(kind_name)
    if kind is None:
        raise _unknown_kind(kind_name)
    _check_uploads(kind, uploads)
    try:
        signatures.check(kind, params, set(uploads))
    except signatures.BadParameters as bad:
        raise Problem(422, str(bad), errors=bad.errors) from None
    job_id = jobs.new_job_id()
    if key is not None:
        earlier = idempotency.reserve(user, key, job_id)
        if earlier is not None:
            return _replayed(earlier, user), False
    try:
        _queue(kind, dict(params), priority, uploads, job_id, user, client)
    except BaseException:
        if key is not None:
            idempotency.release(user, key, job_id)
        if uploads:
            storage.delete_job_files(job_id)  # a refused job leaves no uploads behind
        raise
    record = jobs.get(job_id, user=user)
    if record is None:  # only when retention or an admin removed it this very moment
        raise not_found()
    return record, True


def _queue(kind: signatures.Kind, params: dict[str, Any], priority: int,
           uploads: dict[str, list[Upload]], job_id: str, user: User, client: str) -> None:
    fields = [f for f in kind.file_parameters if f in uploads]
    # jobs.submit stores one file parameter; any other is stored first under the same job id,
    # as the Email page does for a bulk send's CSV and its attachments.
    for field in fields[1:]:
        given = [*_as_list(params.get(field)), *uploads[field]]
        params[field] = jobs.store_files(job_id, given, owner=user.id)
    files: list[Any] = []
    files_param = "files"
    if fields:
        files_param = fields[0]
        files = [*_as_list(params.pop(files_param, None)), *uploads[files_param]]
    try:
        jobs.submit(kind.name, params, user=user, files=files, files_param=files_param,
                    priority=priority, job_id=job_id, client=client)
    except QuotaExceeded:
        raise
    except jobs.UnknownKind:
        raise _unknown_kind(kind.name) from None
    except ValueError as refused:
        raise Problem(422, str(refused)) from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _replayed(job_id: str, user: User) -> dict[str, Any]:
    """The job an earlier request with the same key queued, once its record exists."""
    deadline = time.monotonic() + RECORD_WAIT
    while (record := jobs.get(job_id, user=user)) is None:
        if time.monotonic() > deadline:
            raise Problem(409, "A request with this Idempotency-Key is still being handled, or "
                               "was refused; try again in a moment.")
        time.sleep(0.05)
    return record
