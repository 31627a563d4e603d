"""/api/v1/files: My files, a person's uploads and outputs, to list and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app import jobs, myfiles
from app.api.auth import caller, client_of
from app.api.models import FilePage, MyFile
from app.api.problems import Problem, responses
from app.api.routes.common import offset_of
from app.auth import User
from app.registry import TERMINAL

router = APIRouter(prefix="/api/v1", tags=["files"])
Caller = Annotated[User, Depends(caller)]


@router.get("/files", response_model=FilePage, responses=responses(401, 422))
def list_files(
    user: Caller,
    text: Annotated[str | None, Query(max_length=200, description="Matches names.")] = None,
    cursor: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FilePage:
    """Every file you uploaded and every output of your jobs, newest job first."""
    page = myfiles.list_files(user=user, text=text or None, cursor=offset_of(cursor),
                              limit=limit)
    files = [MyFile(id=f.key, job_id=f.job_id, kind=f.kind, area=f.area, name=f.name,
                    type=f.type, size=f.size, at=f.at, state=f.state, archived=f.archived)
             for f in page.files]
    cursor_out = None if page.next_cursor is None else str(page.next_cursor)
    return FilePage(files=files, next_cursor=cursor_out, notes=page.notes)


@router.delete("/files/{file_id:path}", status_code=204, response_class=Response,
               responses=responses(401, 404, 409))
def delete_file(file_id: str, request: Request, user: Caller) -> Response:
    """Delete one of your files, named by the `id` the listing gives."""
    outcome = myfiles.delete_files([file_id], user=user, client=client_of(request))
    if file_id in outcome.deleted:
        return Response(status_code=204)
    sentence = outcome.refused[0] if outcome.refused else "There is no such file."
    record = jobs.get(file_id.partition("/")[0], user=user)
    running = record is not None and record.get("owner") == user.id \
        and record["state"] not in TERMINAL
    raise Problem(409 if running else 404, sentence)
