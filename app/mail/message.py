"""Building one email: headers checked, MIME tree right, Message-ID derived from a key.

The tree is text/plain, or multipart/alternative (text + HTML), wrapped in multipart/mixed when
there are attachments. Bcc addresses go to the envelope only, never into a header.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from app.errors import PermanentError
from app.mail.addresses import Mailbox, check_header, parse_address, parse_addresses
from app.mail.htmltext import html_to_text
from app.settings import get_settings
from app.storage import safe_filename

# Bodies are always 7-bit safe (quoted-printable or base64) so no server needs 8BITMIME.
SMTP_POLICY = email_policy.SMTP.clone(cte_type="7bit")
SMTPUTF8_POLICY = email_policy.SMTPUTF8.clone(cte_type="7bit")
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "sender",
        "return-path",
    }
)


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

    message: EmailMessage
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str
    key: str
    smtputf8: bool

    def as_bytes(self) -> bytes:
        """The message as transmitted: CRLF line ends, 7-bit bodies."""
        return self.message.as_bytes(policy=SMTPUTF8_POLICY if self.smtputf8 else SMTP_POLICY)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


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
    msg = EmailMessage(policy=SMTP_POLICY)
    message_id = make_message_id(key, _ascii_domain(sender))
    _set_headers(msg, sender, to, cc, reply_to, draft, message_id)
    _set_body(msg, draft.text, draft.html)
    _attach(msg, draft.attachments, max_attachment_bytes)
    _drop_inner_mime_versions(msg)
    international = not all(m.is_ascii for m in [sender, *to, *cc, *bcc, *reply_to])
    return OutgoingMessage(
        message=msg,
        envelope_from=sender.address,
        recipients=tuple(recipients),
        message_id=message_id,
        key=key,
        smtputf8=international,
    )


def _drop_inner_mime_versions(msg: EmailMessage) -> None:
    # EmailMessage stamps MIME-Version on every part it creates; only the top level needs it.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]


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


def _ascii_domain(box: Mailbox) -> str:
    domain = box.address.rpartition("@")[2]
    return domain if domain.isascii() else domain.encode("idna").decode("ascii")


def _header_address(box: Mailbox) -> Address:
    local, _, domain = box.address.rpartition("@")
    return Address(display_name=box.name, username=local, domain=domain)


def _set_headers(
    msg: EmailMessage,
    sender: Mailbox,
    to: list[Mailbox],
    cc: list[Mailbox],
    reply_to: list[Mailbox],
    draft: Draft,
    message_id: str,
) -> None:
    msg["From"] = _header_address(sender)
    if to:
        msg["To"] = [_header_address(b) for b in to]
    if cc:
        msg["Cc"] = [_header_address(b) for b in cc]
    if reply_to:
        msg["Reply-To"] = [_header_address(b) for b in reply_to]
    msg["Subject"] = check_header("subject", draft.subject or "")
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    for name, value in draft.headers.items():
        _check_extra_header(name, value)
        msg[name] = value


def _check_extra_header(name: str, value: str) -> None:
    check_header("header name", name)
    check_header(f"{name} header", value)
    if not name.isascii() or ":" in name or " " in name or name.lower() in _RESERVED_HEADERS:
        raise PermanentError(f"{name!r} cannot be set as an extra header.")


def _set_body(msg: EmailMessage, text: str | None, html: str | None) -> None:
    if not (text or html):
        raise PermanentError("The message has no body: write a text or an HTML version.")
    if html:
        msg.set_content(text or html_to_text(html))
        msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(text or "")


def _attach(msg: EmailMessage, attachments: Iterable[Attachment], max_bytes: int | None) -> None:
    if max_bytes is None:
        max_bytes = get_settings().email_max_attachment_mb * 1024 * 1024
    total = 0
    for item in attachments:
        total += len(item.data)
        if total > max_bytes:
            raise PermanentError(
                f"The attachments add up to more than {max_bytes // (1024 * 1024)} MB,"
                " which most mail servers refuse."
            )
        name = safe_filename(check_header("attachment name", item.filename), default="attachment")
        maintype, subtype = _content_type(item, name)
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=name)


def _content_type(item: Attachment, name: str) -> tuple[str, str]:
    content_type = item.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    maintype, _, subtype = check_header("attachment type", content_type).partition("/")
    return (maintype, subtype) if subtype else ("application", "octet-stream")
