"""A job's message before it is built: the draft from its fields, attachments from its owner.

A job may attach its own uploads and outputs, and those of its owner's other jobs; any other
file is refused with a sentence, whatever path the parameters name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app import storage
from app.errors import PermanentError
from app.mail.delivery import RecordLookup
from app.mail.message import Attachment, Draft
from app.mail.notifications import render_notification
from app.settings import get_settings

NOT_YOURS = "A file must be an upload or an output of one of your jobs."


@dataclass(frozen=True)
class OwnedFiles:
    """The stored files job `job_id` may read: its own, and those of `owner`'s other jobs."""

    job_id: str
    owner: str
    record_of: RecordLookup

    def path(self, ref: Any) -> Path:
        """The path of a stored file of one of the owner's jobs; PermanentError for any other."""
        if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
            raise PermanentError(NOT_YOURS)
        parts = PurePosixPath(ref["path"].replace("\\", "/")).parts
        if len(parts) < 4 or parts[0] != "jobs" or parts[2] not in ("in", "out"):
            raise PermanentError(NOT_YOURS)
        source_job = parts[1]
        if ref.get("job_id") not in (None, "", source_job):
            raise PermanentError("That file does not belong to the job it names.")
        if source_job != self.job_id:
            record = self.record_of(source_job)
            if record is None or record.get("owner") != self.owner:
                raise PermanentError(
                    f"{ref.get('name') or parts[-1]} is not a file of one of your jobs."
                )
        return storage.resolve(ref)

    def attachments(self, refs: list[dict] | None) -> list[Attachment]:
        """The attachments named by `refs`, each checked to be one of the owner's files."""
        files = []
        for ref in refs or []:
            path = self.path(ref)
            name = (ref.get("name") or path.name).rsplit("/", 1)[-1]
            files.append(Attachment(filename=name, data=path.read_bytes()))
        return files


def compose(fields: Mapping[str, Any], files: OwnedFiles) -> Draft:
    """The draft of one message from a task's fields (to, cc, bcc, subject, bodies, files)."""
    return Draft(
        sender=get_settings().mail_from,
        to=fields.get("to") or (),
        cc=fields.get("cc") or (),
        bcc=fields.get("bcc") or (),
        reply_to=fields.get("reply_to") or (),
        subject=fields.get("subject") or "",
        text=fields.get("text"),
        html=fields.get("html"),
        attachments=files.attachments(fields.get("attachments")),
    )


def notification_draft(
    template: str, to: list[str] | str, context: Mapping[str, Any] | None
) -> Draft:
    """The draft of a built-in notification, marked as automatic mail."""
    rendered = render_notification(template, context or {})
    return Draft(
        sender=get_settings().mail_from,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        # RFC 3834: out-of-office robots must not answer automatic mail.
        headers={"Auto-Submitted": "auto-generated"},
    )
