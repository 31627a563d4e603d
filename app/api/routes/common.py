"""What several route modules share: records as API models, and cursors."""

from __future__ import annotations

from typing import Any

from app import jobs
from app.api.models import Job
from app.api.problems import Problem, not_found
from app.auth import User


def job(record: dict[str, Any]) -> Job:
    """A registry record as the API shows it: the model keeps only the public fields."""
    return Job.model_validate(record)


def offset_of(cursor: str | None) -> int:
    """The position a cursor from an earlier page stands for; 422 for anything else."""
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        sentence = "This is not a cursor from a previous page; leave it out to start at the top."
        raise Problem(422, sentence, errors=[{"parameter": "cursor", "message": sentence}])
    return int(cursor)


def visible(job_id: str, user: User) -> dict[str, Any]:
    """The caller's job, or 404 (someone else's job answers as a missing one)."""
    record = jobs.get(job_id, user=user)
    if record is None:
        raise not_found()
    return record
