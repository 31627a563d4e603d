"""The shapes the API answers with: what OpenAPI publishes and every response conforms to."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.registry import STATES
from config.celery_config import DEFAULT_PRIORITY

State = Literal[STATES]  # type: ignore[valid-type]


class Progress(BaseModel):
    current: int = 0
    total: int = 0
    message: str = ""


class Output(BaseModel):
    name: str
    size: int | None = None
    type: str | None = None


class Job(BaseModel):
    """A job's record as its owner (or an admin) sees it; secrets are never in `params`."""

    id: str
    kind: str
    queue: str
    state: State
    owner: str
    priority: int | None = None
    params: dict[str, Any] = {}
    progress: Progress = Progress()
    result: Any = None
    error: str | None = None
    outputs: list[Output] = []
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None
    retries: int = 0
    attempts: int = 0
    parent: str | None = None
    retry_of: str | None = None
    retried_by: str | None = None
    children: list[str] = []


class JobPage(BaseModel):
    jobs: list[Job]
    total: int | None = Field(description="Matching jobs; null after a bounded text search.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    notes: list[str] = []


class NewJob(BaseModel):
    """A job to queue. File parameters take refs; upload new files with multipart instead."""

    kind: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = {}
    priority: int = Field(default=DEFAULT_PRIORITY, ge=0, le=9,
                          description="0 is the most urgent, 9 the least.")


class Parameter(BaseModel):
    name: str
    type: str
    required: bool
    default: Any = None
    file: bool = Field(description="Takes uploaded files (a multipart field of this name).")
    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")


class Kind(BaseModel):
    name: str
    queue: str
    description: str
    parameters: list[Parameter]


class MyFile(BaseModel):
    id: str = Field(description="<job id>/<in|out>/<name>: what DELETE /api/v1/files/{id} takes.")
    job_id: str
    kind: str
    area: Literal["input", "output"]
    name: str
    type: str
    size: int
    at: float
    state: str
    archived: bool


class FilePage(BaseModel):
    files: list[MyFile]
    next_cursor: str | None
    notes: list[str] = []


class Queue(BaseModel):
    name: str
    length: int
    by_priority: dict[str, int]
    consumers: int
    reserved: int
    scheduled: int


class Worker(BaseModel):
    hostname: str
    queues: list[str]
    pool: str
    concurrency: int
    active: int
    processed: int
    load: list[float]
    heartbeat: float
    online: bool


class Health(BaseModel):
    status: Literal["ok", "not ready"]
    problems: list[str] = []
