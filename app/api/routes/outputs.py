"""A job's outputs: the list, one file, or all of them as a zip, streamed in chunks.

The list comes from `jobs.outputs`, which answers only for the caller's own jobs (everyone's
for an admin), so a download is only ever of a file that list named. A file is streamed from the
store, or read member by member from the job's archive once maintenance zipped it; the zip of
everything is written as it is sent. Each download is audited as `jobs.output_bytes` audits.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from app import audit, jobs, storage
from app.api.auth import caller, client_of
from app.api.models import Output
from app.api.problems import Problem, responses
from app.api.routes.common import visible
from app.auth import User

router = APIRouter(prefix="/api/v1", tags=["outputs"])
Caller = Annotated[User, Depends(caller)]
BINARY = {200: {"description": "The file's bytes.",
                "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                    "format": "binary"}}}}}


def _disposition(name: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(name.rsplit('/', 1)[-1])}"


@router.get("/jobs/{job_id}/outputs", response_model=list[Output],
            responses=responses(401, 404))
def list_outputs(job_id: str, user: Caller) -> list[Output]:
    """The files the job produced: name, size and type."""
    visible(job_id, user)
    return [Output.model_validate(o) for o in jobs.outputs(job_id, user=user)]


@router.get("/jobs/{job_id}/outputs.zip", response_class=StreamingResponse,
            responses={200: {"description": "Every output in one zip.",
                             "content": {"application/zip": {"schema": {
                                 "type": "string", "format": "binary"}}}},
                       **responses(401, 404)})
def download_zip(job_id: str, request: Request, user: Caller) -> StreamingResponse:
    """Every output of the job in one zip, written as it is sent."""
    visible(job_id, user)
    outputs = jobs.outputs(job_id, user=user)
    audit.record(user, "file.download", f"{job_id}/out/*.zip", "all outputs", client_of(request))
    return StreamingResponse(zipped(job_id, outputs), media_type="application/zip",
                             headers={"Content-Disposition": _disposition(f"{job_id}.zip")})


@router.get("/jobs/{job_id}/outputs/{name:path}", response_class=StreamingResponse,
            responses={**BINARY, **responses(401, 404)})
def download_output(job_id: str, name: str, request: Request, user: Caller) -> Any:
    """One output file, by the name the outputs list gives."""
    visible(job_id, user)
    output = next((o for o in jobs.outputs(job_id, user=user) if o["name"] == name), None)
    if output is None:
        raise Problem(404, f"Job {job_id} has no output called {name}.")
    audit.record(user, "file.download", f"{job_id}/out/{name}", client=client_of(request))
    headers = {"Content-Disposition": _disposition(name)}
    media = "application/octet-stream"
    if output.get("archived"):
        return StreamingResponse(_member(output["path"], f"out/{name}"), media_type=media,
                                 headers=headers)
    headers["Content-Length"] = str(output["size"])
    return StreamingResponse(storage.chunks(output), media_type=media, headers=headers)


def _member(archive: str, member: str) -> Iterator[bytes]:
    return storage.archived_chunks(archive, member)


def _chunks(output: dict[str, Any], job_id: str) -> Iterator[bytes]:
    if output.get("archived"):
        return _member(output["path"], f"out/{output['name']}")
    return storage.chunks(output)


class _Pipe:
    """A write-only file for zipfile whose written bytes are taken out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zipped(job_id: str, outputs: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A zip of the outputs, yielded piece by piece; never more than a chunk in memory."""
    pipe = _Pipe()
    # Not seekable: zipfile writes each member's sizes after its data (a data descriptor).
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for output in outputs:
            with archive.open(output["name"], "w", force_zip64=True) as member:
                for chunk in _chunks(output, job_id):
                    member.write(chunk)
                    yield pipe.take()
        yield pipe.take()
    yield pipe.take()
