"""/api/v1/jobs: submit, list, read, cancel and retry jobs, always as the calling person."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from app import jobs
from app.api import idempotency, submitting
from app.api.auth import caller, client_of
from app.api.models import Job, JobPage, NewJob, State
from app.api.problems import Problem, responses, validation_errors
from app.api.routes.common import job, offset_of, visible
from app.api.routes.events import EVENT_STREAM, follow
from app.api.uploads import uploads_by_field
from app.auth import User
from app.quotas import QuotaExceeded
from app.settings import QUEUES

router = APIRouter(prefix="/api/v1", tags=["jobs"])
Caller = Annotated[User, Depends(caller)]
QueueName = Literal[QUEUES]  # type: ignore[valid-type]
MAX_FILES = 200

SUBMIT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/NewJob"}},
        "multipart/form-data": {"schema": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"type": "string"},
                "params": {"type": "string", "description": "The params object, as JSON."},
                "priority": {"type": "integer", "minimum": 0, "maximum": 9},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "Files for the kind's file parameter of this name; "
                                         "`attachments` and `csv` work the same way."},
            },
        }},
    },
}


def _invalid(error: ValidationError) -> Problem:
    errors = validation_errors(error.errors())
    detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
    return Problem(422, detail, errors=errors)


def _from_json(raw: bytes) -> NewJob:
    try:
        return NewJob.model_validate(json.loads(raw or b"null"))
    except ValueError as bad:
        if isinstance(bad, ValidationError):
            raise _invalid(bad) from None
        raise Problem(422, "The body is not valid JSON.") from None


def _from_form(form: Any) -> NewJob:
    raw = form.get("params") or "{}"
    try:
        params = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        params = None
    if not isinstance(params, dict):
        sentence = "'params' must be a JSON object, such as {\"operations\": [\"extract_text\"]}."
        raise Problem(422, sentence, errors=[{"parameter": "params", "message": sentence}])
    fields = {"kind": form.get("kind") or "", "params": params}
    if form.get("priority") not in (None, ""):
        fields["priority"] = form.get("priority")
    try:
        return NewJob.model_validate(fields)
    except ValidationError as bad:
        raise _invalid(bad) from None


@router.post(
    "/jobs", status_code=201, response_model=Job, openapi_extra={"requestBody": SUBMIT_BODY},
    responses={200: {"model": Job, "description": "The job this Idempotency-Key already names"},
               201: {"model": Job, "description": "The job, queued; with `Accept: "
                     "text/event-stream`, its events until it ends",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **responses(401, 409, 413, 415, 422, 429)},
)
async def submit_job(
    request: Request, response: Response, user: Caller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Queue a job: JSON {kind, params, priority}, or multipart with `kind`, `params` (JSON)
    and files under the kind's file parameter (`files`, `attachments` or `csv`).

    With `Accept: text/event-stream` the answer is the job's event stream (as
    GET /jobs/{id}/events gives it): submit and follow in one request."""
    key = None
    if idempotency_key is not None:
        try:
            key = idempotency.check_key(idempotency_key)
        except ValueError as bad:
            raise Problem(422, str(bad), errors=[{"parameter": "Idempotency-Key",
                                                  "message": str(bad)}]) from None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=MAX_FILES, max_fields=MAX_FILES) as form:
            new = _from_form(form)
            record, created = await run_in_threadpool(
                submitting.submit, new.kind, new.params, new.priority, uploads_by_field(form),
                user=user, key=key, client=client_of(request))
    elif content_type in ("application/json", ""):
        new = _from_json(await request.body())
        record, created = await run_in_threadpool(
            submitting.submit, new.kind, new.params, new.priority, {},
            user=user, key=key, client=client_of(request))
    else:
        raise Problem(415, "Send the job as application/json or multipart/form-data.")
    response.headers["Location"] = f"/api/v1/jobs/{record['id']}"
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    if EVENT_STREAM in request.headers.get("accept", ""):
        return follow(record, user, status=response.status_code or 201,
                      headers=dict(response.headers))
    return job(record)


@router.get("/jobs", response_model=JobPage, responses=responses(401, 422))
def list_jobs(
    user: Caller,
    state: State | None = None,
    queue: QueueName | None = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    text: Annotated[str | None, Query(max_length=200, description="Matches kind, "
                                      "parameters and errors.")] = None,
    owner: Annotated[str | None, Query(max_length=320,
                                       description="Admins only: one person's jobs.")] = None,
    cursor: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    """Your jobs (everyone's for an admin), newest first; every filter given must match."""
    offset = offset_of(cursor)
    page = jobs.list(user=user, state=state, queue=queue, kind=kind or None, owner=owner or None,
                     text=text or None, offset=offset, limit=limit)
    more = page.has_more and bool(page.jobs)
    return JobPage(jobs=[job(r) for r in page.jobs], total=page.total, notes=page.notes,
                   next_cursor=str(offset + len(page.jobs)) if more else None)


@router.get("/jobs/{job_id}", response_model=Job, responses=responses(401, 404))
def get_job(job_id: str, user: Caller) -> Job:
    """One job: state, progress, result, error and outputs."""
    return job(visible(job_id, user))


@router.post("/jobs/{job_id}/cancel", response_model=Job, responses=responses(401, 404, 409))
def cancel_job(job_id: str, request: Request, user: Caller) -> Job:
    """Cancel a queued or running job."""
    visible(job_id, user)
    if not jobs.cancel(job_id, user=user, client=client_of(request)):
        raise Problem(409, "This job has already finished; there is nothing to cancel.")
    return job(visible(job_id, user))


@router.post("/jobs/{job_id}/retry", status_code=201, response_model=Job,
             responses=responses(401, 404, 409, 429))
def retry_job(job_id: str, request: Request, response: Response, user: Caller) -> Job:
    """Submit a failed or cancelled job again with the same parameters: the new job."""
    visible(job_id, user)
    try:
        new_id = jobs.retry(job_id, user=user, client=client_of(request))
    except ValueError as refused:
        if isinstance(refused, QuotaExceeded):
            raise
        raise Problem(409, str(refused)) from None
    response.headers["Location"] = f"/api/v1/jobs/{new_id}"
    return job(visible(new_id, user))
