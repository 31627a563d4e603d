"""/api/v1/jobs/{id}/events: Server-Sent Events of a job's state and progress.

    event: state       data: {"id": ..., "state": "STARTED"}
    event: progress    data: {"current": 3, "total": 10, "message": "Page 3 of 10"}
    event: state       data: {the whole job record, at SUCCESS, FAILURE or REVOKED}

The stream opens with the current state, sends an event whenever the state or the progress
changes, and closes after the terminal state. Between reads it blocks in `jobs.wait` for at
most POLL seconds, so the end of a job is sent the moment it happens, not at the next poll.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from app import jobs
from app.api.auth import caller
from app.api.problems import responses
from app.api.routes.common import job, visible
from app.auth import User
from app.registry import TERMINAL

router = APIRouter(prefix="/api/v1", tags=["jobs"])
EVENT_STREAM = "text/event-stream"
POLL = 0.25
KEEPALIVE = 15.0

EVENTS_DOC = {200: {"description": "A text/event-stream of `state` and `progress` events.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def _event(name: str, data: Any, number: int) -> str:
    return f"id: {number}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream(job_id: str, user: User, first: dict[str, Any]) -> Iterator[str]:
    """The events of one job, from `first` (its record now) to its terminal state."""
    record, number = first, 0
    last_state, last_progress = None, None
    quiet_since = time.monotonic()
    while True:
        if record["state"] in TERMINAL:
            yield _event("state", job(record).model_dump(mode="json"), number + 1)
            return
        if record["state"] != last_state:
            number += 1
            last_state = record["state"]
            yield _event("state", {"id": job_id, "state": last_state}, number)
            quiet_since = time.monotonic()
        if record.get("progress") and record["progress"] != last_progress:
            number += 1
            last_progress = record["progress"]
            yield _event("progress", last_progress, number)
            quiet_since = time.monotonic()
        if time.monotonic() - quiet_since > KEEPALIVE:
            yield ": keep-alive\n\n"  # proxies close connections that stay silent
            quiet_since = time.monotonic()
        record = _next(job_id, user)
        if record is None:  # deleted while followed (retention, an admin)
            yield _event("error", {"detail": "There is no such job."}, number + 1)
            return


def _next(job_id: str, user: User) -> dict[str, Any] | None:
    """The record once it finishes or POLL seconds pass, whichever is first."""
    try:
        return jobs.wait(job_id, timeout=POLL, user=user)
    except TimeoutError:
        return jobs.get(job_id, user=user)
    except LookupError:
        return None


@router.get("/jobs/{job_id}/events", responses={**EVENTS_DOC, **responses(401, 404)},
            response_class=StreamingResponse)
def job_events(job_id: str, user: Annotated[User, Depends(caller)]) -> StreamingResponse:
    """Follow a job live: `state` and `progress` events until it ends."""
    return follow(visible(job_id, user), user)


def follow(record: dict[str, Any], user: User, status: int = 200,
           headers: dict[str, str] | None = None) -> StreamingResponse:
    """The event stream of the job `record` describes, as an HTTP answer."""
    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-length"}
    return StreamingResponse(
        stream(record["id"], user, record), status_code=status, media_type=EVENT_STREAM,
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
