"""The local catcher's inbox: one `.eml` per received message, plus a `.json` with its envelope.

The catcher writes with `store`; the Email page reads with `list_messages` and `read_message`.
Names are checked, so a page can never be made to read outside the inbox folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

_NAME = re.compile(r"^\d{19}-[0-9a-f]{8}\.eml$")


@dataclass(frozen=True)
class InboxMessage:
    """One stored message, as the inbox list shows it."""

    name: str
    received_at: float
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    sender: str
    to: str
    size: int
    message_id: str = ""


@dataclass(frozen=True)
class Part:
    filename: str
    content_type: str
    size: int


@dataclass
class OpenedMessage:
    """A stored message taken apart for reading."""

    summary: InboxMessage
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[Part] = field(default_factory=list)
    raw: bytes = b""


def store(folder: Path, data: bytes, mail_from: str, rcpt_tos: list[str], peer: str = "") -> str:
    """Save one received message and its envelope; returns the message's name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():019d}-{uuid.uuid4().hex[:8]}.eml"
    envelope = {"mail_from": mail_from, "rcpt_tos": rcpt_tos, "peer": peer,
                "received_at": time.time()}
    _write_atomically(folder / f"{name[:-4]}.json", json.dumps(envelope).encode())
    # The .eml lands last: a reader that sees it always finds its envelope too.
    _write_atomically(folder / name, data)
    return name


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def list_messages(folder: Path, limit: int = 200) -> list[InboxMessage]:
    """The newest `limit` messages in the inbox, newest first."""
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if _NAME.match(p.name)), reverse=True)
    return [_summary(folder, name) for name in names[:limit]]


def count(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else 0


def read_message(folder: Path, name: str) -> OpenedMessage:
    """The message called `name`, parsed; FileNotFoundError when there is no such message."""
    raw = _path(folder, name).read_bytes()
    msg = _parse(raw)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return OpenedMessage(
        summary=_summary(folder, name, msg, len(raw)),
        headers=[(k, str(v)) for k, v in msg.items()],
        text=_native(text_part),
        html=_native(html_part),
        attachments=[_part(p) for p in msg.iter_attachments()],
        raw=raw,
    )


def attachment_bytes(folder: Path, name: str, index: int) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of attachment number `index` of message `name`."""
    parts = list(_parse(_path(folder, name).read_bytes()).iter_attachments())
    if not 0 <= index < len(parts):
        raise FileNotFoundError(f"Message {name} has no attachment number {index + 1}.")
    part = parts[index]
    return part.get_filename() or f"attachment-{index + 1}", part.get_content_type(), \
        part.get_payload(decode=True) or b""


def clear(folder: Path) -> int:
    """Delete every stored message; returns how many there were."""
    removed = 0
    for path in folder.glob("*.eml") if folder.is_dir() else ():
        if _NAME.match(path.name):
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            removed += 1
    return removed


def _path(folder: Path, name: str) -> Path:
    if not _NAME.match(name or ""):
        raise FileNotFoundError(f"{name!r} is not a message in the inbox.")
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"The message {name} is no longer in the inbox.")
    return path


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _summary(folder: Path, name: str, msg: EmailMessage | None = None,
             size: int | None = None) -> InboxMessage:
    path = folder / name
    if msg is None:
        # Headers are enough for the list; bodies are parsed only when a message is opened.
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        msg = _parse(head + b"\r\n\r\n")
        size = path.stat().st_size
    envelope = _envelope(folder, name)
    return InboxMessage(
        name=name,
        received_at=float(envelope.get("received_at") or int(name[:19]) / 1e9),
        mail_from=envelope.get("mail_from", ""),
        rcpt_tos=list(envelope.get("rcpt_tos", [])),
        subject=str(msg.get("Subject", "")),
        sender=str(msg.get("From", "")),
        to=str(msg.get("To", "")),
        size=size or 0,
        message_id=str(msg.get("Message-ID", "")).strip(),
    )


def _envelope(folder: Path, name: str) -> dict:
    try:
        return json.loads((folder / f"{name[:-4]}.json").read_text())
    except (OSError, ValueError):
        return {}


def _native(part: EmailMessage | None) -> str | None:
    # Stored bytes keep SMTP's CRLF; people and widgets expect plain newlines.
    return part.get_content().replace("\r\n", "\n") if part is not None else None


def _part(part: EmailMessage) -> Part:
    payload = part.get_payload(decode=True) or b""
    return Part(part.get_filename() or "attachment", part.get_content_type(), len(payload))
