"""Building one email: headers checked, MIME tree right, Message-ID derived from a key.

The tree is text/plain, or multipart/alternative (text + HTML), wrapped in multipart/mixed when
there are attachments. Bcc addresses go to the envelope only, never into a header.

Messages are built with the stdlib's compat32 MIME classes (as Django's mail does): the
policy-based EmailMessage parses every header it is given, which costs several times more per
message and dominates a bulk send. Every value is checked here before it reaches a header, and
anything non-ASCII is RFC 2047 / RFC 2231 encoded, so the output is 7-bit clean.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import charset as email_charset
from email import encoders
from email import policy as email_policy
from email.errors import MessageError
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from functools import cached_property

from app.errors import PermanentError
from app.mail.addresses import Mailbox, check_header, parse_address, parse_addresses
from app.mail.htmltext import html_to_text
from app.settings import get_settings
from app.storage import safe_filename

# Quoted-printable keeps bodies 7-bit (no server needs 8BITMIME) and readable in the source.
UTF8 = email_charset.Charset("utf-8")
UTF8.body_encoding = email_charset.QP
UTF8.header_encoding = email_charset.QP


class _WirePolicy(email_policy.Compat32):
    """compat32 with CRLF line ends and a fast path for the common short ASCII header."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= 78:
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


WIRE_POLICY = _WirePolicy(linesep="\r\n")
_RESERVED_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
        "mime-version", "content-type", "content-transfer-encoding", "sender", "return-path",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Attachment:
    """A file to attach: its name as the recipient sees it, its bytes and (optionally) type."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class Draft:
    """What a user asked to send, before any check."""

    sender: str
    to: tuple[str, ...] | list[str] | str
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[str, ...] | list[str] | str = ()
    bcc: tuple[str, ...] | list[str] | str = ()
    reply_to: tuple[str, ...] | list[str] | str = ()
    attachments: tuple[Attachment, ...] | list[Attachment] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingMessage:
    """A built message with its envelope: what SMTP transmits and to whom."""

    message: Message
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str
    key: str
    subject: str

    @cached_property
    def wire_bytes(self) -> bytes:
        buffer = io.BytesIO()
        BytesGenerator(buffer, mangle_from_=False, policy=WIRE_POLICY).flatten(self.message)
        return buffer.getvalue()

    def as_bytes(self) -> bytes:
        """The message as transmitted: CRLF line ends, 7-bit clean."""
        return self.wire_bytes


def make_message_id(key: str, domain: str) -> str:
    """The Message-ID of the logical message `key`: the same key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<nexus.{digest}@{domain}>"


def build_message(
    draft: Draft, key: str, *, max_attachment_bytes: int | None = None
) -> OutgoingMessage:
    """Check every field of `draft` and build its message; raises PermanentError on bad input."""
    sender = parse_address(draft.sender, local_domain_ok=True)
    to, cc, bcc = parse_addresses(draft.to), parse_addresses(draft.cc), parse_addresses(draft.bcc)
    reply_to = parse_addresses(draft.reply_to)
    recipients = _unique_addresses([*to, *cc, *bcc])
    _check_recipient_count(to, cc, bcc, recipients)
    subject = check_header("subject", draft.subject or "")
    msg = _with_attachments(_body(draft.text, draft.html), draft.attachments, max_attachment_bytes)
    message_id = make_message_id(key, sender.address.rpartition("@")[2])
    _set_headers(msg, sender, to, cc, reply_to, subject, message_id)
    for name, value in draft.headers.items():
        _check_extra_header(name, value)
        msg[name] = value
    _headers_first(msg)
    outgoing = OutgoingMessage(
        message=msg,
        envelope_from=sender.address,
        recipients=tuple(recipients),
        message_id=message_id,
        key=key,
        subject=subject,
    )
    _check_encodes(outgoing)
    return outgoing


def _check_encodes(outgoing: OutgoingMessage) -> None:
    """Flatten now, so a header the email package refuses fails this message, not the job."""
    try:
        outgoing.wire_bytes  # noqa: B018 - cached: the send reuses these bytes
    except MessageError as exc:
        raise PermanentError(
            f"The message cannot be encoded: a header holds text email does not allow ({exc})."
        ) from None


def _check_recipient_count(to: list, cc: list, bcc: list, recipients: list[str]) -> None:
    if not to and not cc and not bcc:
        raise PermanentError("The message has no recipient: add at least one To address.")
    limit = get_settings().email_max_recipients
    if len(recipients) > limit:
        raise PermanentError(
            f"The message has {len(recipients)} recipients; one message may have at most {limit}."
            " Use a bulk send for more."
        )


def _unique_addresses(mailboxes: Iterable[Mailbox]) -> list[str]:
    seen: dict[str, str] = {}
    for box in mailboxes:
        seen.setdefault(box.address.lower(), box.address)
    return list(seen.values())


def _address_list(boxes: list[Mailbox]) -> str:
    return ", ".join(formataddr((box.name, box.address), charset=UTF8) for box in boxes)


def _set_headers(
    msg: Message,
    sender: Mailbox,
    to: list[Mailbox],
    cc: list[Mailbox],
    reply_to: list[Mailbox],
    subject: str,
    message_id: str,
) -> None:
    msg["From"] = _address_list([sender])
    if to:
        msg["To"] = _address_list(to)
    if cc:
        msg["Cc"] = _address_list(cc)
    if reply_to:
        msg["Reply-To"] = _address_list(reply_to)
    msg["Subject"] = subject if subject.isascii() else Header(subject, UTF8, header_name="Subject")
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id


def _headers_first(msg: Message) -> None:
    """Put the envelope headers before MIME-Version and Content-*, as people expect to read."""
    moved = [(k, v) for k, v in msg.items() if k.lower().startswith(("mime-", "content-"))]
    for name in dict(moved):
        del msg[name]
    for name, value in moved:
        msg[name] = value


def _check_extra_header(name: str, value: str) -> None:
    check_header("header name", name)
    check_header(f"{name} header", value)
    if not name.isascii() or not value.isascii() or ":" in name or " " in name:
        raise PermanentError(f"{name!r} cannot be set as an extra header.")
    if name.lower() in _RESERVED_HEADERS:
        raise PermanentError(f"{name!r} cannot be set as an extra header.")


def _body(text: str | None, html: str | None) -> Message:
    if not (text or html):
        raise PermanentError("The message has no body: write a text or an HTML version.")
    plain = MIMEText(text or html_to_text(html or ""), "plain", UTF8)
    if not html:
        return plain
    return _multipart("alternative", [plain, MIMEText(html, "html", UTF8)])


def _multipart(subtype: str, parts: list[Message]) -> MIMEMultipart:
    for part in parts:
        # Only the top level needs MIME-Version; the legacy classes stamp it on every part.
        del part["MIME-Version"]
    # Our own boundary: without one, the generator draws one and compiles a regex per message to
    # prove the body does not hold it, a third of a bulk send's CPU. "=_" cannot occur in the
    # quoted-printable and base64 bodies this module writes, and 128 random bits keep nested
    # boundaries apart.
    return MIMEMultipart(subtype, boundary=f"=_nexus_{secrets.token_hex(16)}", _subparts=parts)


def _with_attachments(
    body: Message, attachments: Iterable[Attachment], max_bytes: int | None
) -> Message:
    items = list(attachments)
    if not items:
        return body
    if max_bytes is None:
        max_bytes = get_settings().email_max_attachment_mb * 1024 * 1024
    if sum(len(item.data) for item in items) > max_bytes:
        raise PermanentError(
            f"The attachments add up to more than {max_bytes // (1024 * 1024)} MB,"
            " which most mail servers refuse."
        )
    return _multipart("mixed", [body, *(_attachment_part(item) for item in items)])


def _attachment_part(item: Attachment) -> MIMEBase:
    name = safe_filename(check_header("attachment name", item.filename), default="attachment")
    maintype, subtype = _content_type(item, name)
    part = MIMEBase(maintype, subtype)
    part.set_payload(item.data)
    encoders.encode_base64(part)
    # RFC 2231 keeps a non-ASCII file name intact in every client that matters.
    filename = name if name.isascii() else ("utf-8", "", name)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _content_type(item: Attachment, name: str) -> tuple[str, str]:
    content_type = item.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    maintype, _, subtype = check_header("attachment type", content_type).partition("/")
    if not subtype or not content_type.isascii():
        return "application", "octet-stream"
    return maintype, subtype
