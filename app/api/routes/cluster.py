"""Queues, workers and health: for every caller, since they carry no job data.

/health/live answers while the process runs; /health/ready answers 200 only when Redis
answers and every queue has a worker (503 otherwise), for compose health checks and probes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app import monitor
from app.api.auth import caller
from app.api.models import Health, Queue, Worker
from app.api.problems import responses
from app.auth import User

router = APIRouter(tags=["cluster"])
Caller = Annotated[User, Depends(caller)]


@router.get("/api/v1/queues", response_model=list[Queue], responses=responses(401))
def queues(user: Caller) -> list[Queue]:
    """Every queue: messages waiting (all priorities), consumers, reserved and scheduled."""
    return [Queue(name=s.name, length=s.length, consumers=s.consumers, reserved=s.reserved,
                  scheduled=s.scheduled, by_priority={str(k): v for k, v in s.by_priority.items()})
            for s in monitor.queue_stats().values()]


@router.get("/api/v1/workers", response_model=list[Worker], responses=responses(401))
def workers(user: Caller) -> list[Worker]:
    """Every worker seen lately, newest heartbeat first."""
    return [Worker(hostname=w.hostname, queues=w.queues, pool=w.pool,
                   concurrency=w.concurrency, active=w.active, processed=w.processed,
                   load=w.load, heartbeat=w.heartbeat, online=w.online)
            for w in monitor.workers()]


@router.get("/health/live", response_model=Health)
def live() -> Health:
    """The API process answers."""
    return Health(status="ok")


@router.get("/health/ready", response_model=Health,
            responses={503: {"model": Health, "description": "Not ready, and why"}})
def ready() -> JSONResponse:
    """Redis answers and every queue has a worker."""
    ok, message = monitor.redis_ok()
    problems = [] if ok else [message]
    if ok:
        problems = [f"No worker reads the {queue} queue: `{monitor.WORKER_COMMANDS[queue]}`."
                    for queue in monitor.queues_without_workers()]
    health = Health(status="not ready" if problems else "ok", problems=problems)
    return JSONResponse(health.model_dump(), status_code=503 if problems else 200)
