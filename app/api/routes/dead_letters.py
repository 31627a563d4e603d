"""/api/v1/dead-letters: permanently failed jobs, your own (everyone's for an admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app import jobs
from app.api.auth import caller, client_of
from app.api.models import Job, JobPage
from app.api.problems import Problem, responses
from app.api.routes.common import job, offset_of, visible
from app.auth import User
from app.quotas import QuotaExceeded

router = APIRouter(prefix="/api/v1", tags=["dead letters"])
Caller = Annotated[User, Depends(caller)]


@router.get("/dead-letters", response_model=JobPage, responses=responses(401, 422))
def list_dead_letters(
    user: Caller,
    cursor: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    """Jobs that failed for good, newest first, to requeue or leave."""
    offset = offset_of(cursor)
    page = jobs.dead_letters(user=user, offset=offset, limit=limit)
    more = page.has_more and bool(page.jobs)
    return JobPage(jobs=[job(r) for r in page.jobs], total=page.total, notes=page.notes,
                   next_cursor=str(offset + len(page.jobs)) if more else None)


@router.post("/dead-letters/{job_id}/requeue", status_code=201, response_model=Job,
             responses=responses(401, 404, 409, 429))
def requeue(job_id: str, request: Request, response: Response, user: Caller) -> Job:
    """Submit a dead letter again with its parameters; it leaves the list. The new job."""
    visible(job_id, user)
    try:
        new_id = jobs.retry(job_id, user=user, client=client_of(request))
    except QuotaExceeded:
        raise
    except ValueError as refused:
        raise Problem(409, str(refused)) from None
    response.headers["Location"] = f"/api/v1/jobs/{new_id}"
    return job(visible(new_id, user))
