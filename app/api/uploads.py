"""Request bodies with files: a cap on the whole body, and uploads in the shape app.jobs takes.

Each file's own cap, its safe name and its sniffed type are app.storage's, applied as
`jobs.submit` saves it. The whole body is capped here too (BODY_FILES × MAX_UPLOAD_MB), so a
request cannot spool gigabytes to disk before the first file is even looked at.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import response
from app.settings import get_settings

BODY_FILES = 5


class BodyTooLarge(Exception):
    """The request body passed the cap while it arrived."""


def body_cap() -> int:
    return get_settings().max_upload_bytes * BODY_FILES


def too_large_sentence() -> str:
    total = body_cap() // (1024 * 1024)
    return f"A request can carry at most {total} MB of files; send fewer files at a time."


class BodyLimit:
    """ASGI middleware: 413 for a body declared or found larger than `body_cap()`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        cap = body_cap()
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > cap:
            await response(413, too_large_sentence())(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise BodyTooLarge(too_large_sentence())
            return message

        await self.app(scope, counted, send)


class Upload:
    """An uploaded part as app.jobs reads uploads: `name`, `size`, `read` and `seek`."""

    def __init__(self, part: UploadFile) -> None:
        self.name = part.filename or "file"
        self.size = part.size or 0
        self._file: BinaryIO = part.file

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)


def uploads_by_field(form: Any) -> dict[str, list[Upload]]:
    """The files of a multipart form, grouped by field name."""
    found: dict[str, list[Upload]] = {}
    for field, value in form.multi_items():
        if isinstance(value, UploadFile):
            found.setdefault(field, []).append(Upload(value))
    return found
