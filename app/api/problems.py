"""Errors as RFC 9457 problem details (`application/problem+json`), with the UI's sentences.

Routes raise `Problem` (or let app.jobs' own exceptions through); the handlers here turn every
refusal into {type, title, status, detail} plus extensions (`errors` naming parameters). An
unexpected exception becomes a 500 that says nothing about the code: its traceback goes to
the server log only.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import PermanentError, Unavailable
from app.quotas import QuotaExceeded
from app.storage import UploadTooLarge

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
# Seconds a client is told to wait when Redis is not reachable.
UNAVAILABLE_RETRY_AFTER = 5
TITLES = {
    400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict",
    413: "Upload too large", 415: "Unsupported media type", 422: "Invalid parameters",
    429: "Over a quota", 500: "Server error", 503: "Not ready",
}


class ProblemBody(BaseModel):
    """The body of every error answer (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class Problem(Exception):
    """An error answer: raise it from a route with the sentence the person should read."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.headers = headers or {}
        self.extensions = extensions


def not_found(detail: str = "There is no such job.") -> Problem:
    """Someone else's job answers exactly like a missing one, so existence does not leak."""
    return Problem(404, detail)


def response(status: int, detail: str, headers: dict[str, str] | None = None,
             **extensions: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, **{k: v for k, v in extensions.items() if v is not None}}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _parameter(loc: tuple | list) -> str:
    """The name a person gave a value: the last meaningful part of pydantic's location."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"parameter": _parameter(e.get("loc", ())), "message": _sentence(e)} for e in errors]


def _sentence(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "is not valid"))
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


async def _problem(request: Request, exc: Problem) -> JSONResponse:
    return response(exc.status, exc.detail, exc.headers, **exc.extensions)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = validation_errors(exc.errors())
    detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
    return response(422, detail or "The request is not valid.", errors=errors)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is nothing at this address."
    return response(exc.status_code, detail, getattr(exc, "headers", None))


async def _quota(request: Request, exc: QuotaExceeded) -> JSONResponse:
    # Retry-After only where waiting helps (jobs per minute, AI tokens per day); a storage or
    # recipient quota is a 429 without it: waiting will not make the request fit.
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response(429, str(exc), headers)


async def _too_large(request: Request, exc: UploadTooLarge) -> JSONResponse:
    return response(413, str(exc))


async def _permanent(request: Request, exc: PermanentError) -> JSONResponse:
    return response(422, str(exc))


async def _unavailable(request: Request, exc: Unavailable) -> JSONResponse:
    """Redis is down or restarting: 503 with the sentence, and when to try again."""
    return response(503, str(exc), {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("Unexpected error on %s %s", request.method, request.url.path)
    return response(500, "Something went wrong on our side; the error is in the server log.")


def install(app: FastAPI) -> None:
    """Route every error of `app` through problem+json."""
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(QuotaExceeded, _quota)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_exception_handler(PermanentError, _permanent)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give."""
    return {
        status: {"model": ProblemBody, "description": TITLES.get(status, "Error"),
                 "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}}
        for status in statuses
    }
