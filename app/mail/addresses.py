"""Email addresses and header values a user typed, checked before they reach a message.

Every header value passes `check_header` (a CR or LF would let a value inject headers) and every
address passes `parse_address` (email-validator syntax rules, no DNS lookups).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from app.errors import PermanentError

_NAME_AND_ADDRESS = re.compile(r'^\s*(?:"?(?P<name>[^"<>]*?)"?\s*)?<(?P<addr>[^<>]*)>\s*$')
_SEPARATORS = ",;\n"
_HOST_LABELS = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


class InvalidAddress(PermanentError):
    """An address that cannot be used, with a sentence saying why."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address!r} is not a valid email address: {reason}")
        self.address = address
        self.reason = reason


class HeaderInjection(PermanentError):
    """A header value containing a line break."""


@dataclass(frozen=True)
class Mailbox:
    """A validated address with an optional display name."""

    address: str  # ASCII: international domains in IDNA form
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


# Every character str.splitlines() breaks on, and NUL: the email package folds headers with
# splitlines, so a vertical tab or form feed in a subject becomes a real line break on the wire.
_HEADER_BREAKS = frozenset("\r\n\0\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def check_header(field: str, value: str) -> str:
    """`value` unchanged, or HeaderInjection when it holds a line break of any kind or NUL."""
    if not _HEADER_BREAKS.isdisjoint(value):
        raise HeaderInjection(
            f"The {field} contains a line break, which is not allowed in an email header."
        )
    return value


@lru_cache(maxsize=4096)
def parse_address(text: str, *, local_domain_ok: bool = False) -> Mailbox:
    """One address, `user@example.com` or `Name <user@example.com>`; raises InvalidAddress.

    `local_domain_ok` also accepts host names like `localhost` or `mail.local`, which the
    configured sender may use in development; recipients never get that leniency.
    """
    raw = check_header("address", str(text or "")).strip()
    if not raw:
        raise InvalidAddress(raw, "it is empty.")
    match = _NAME_AND_ADDRESS.match(raw)
    name, addr = (match["name"] or "", match["addr"].strip()) if match else ("", raw)
    try:
        # SMTPUTF8 is not universal among relays; an ASCII address reaches every server.
        checked = validate_email(addr, check_deliverability=False, allow_smtputf8=False)
        checked = checked.ascii_email or checked.normalized
    except EmailNotValidError as exc:
        checked = _local_address(addr) if local_domain_ok else None
        if checked is None:
            raise InvalidAddress(raw, str(exc)) from None
    return Mailbox(address=checked, name=name.strip())


def _local_address(addr: str) -> str | None:
    local, _, domain = addr.rpartition("@")
    if not _HOST_LABELS.match(domain):
        return None
    try:
        validate_email(f"{local}@example.com", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return f"{local}@{domain.lower()}"


def split_addresses(value: str | Iterable[str] | None) -> list[str]:
    """Address texts from a list or from one string separated by commas, semicolons or lines.

    A comma inside quotes or angle brackets ("Doe, Jane" <jane@example.com>) does not split.
    """
    if value is None:
        return []
    if not isinstance(value, str):
        return [item.strip() for v in value for item in split_addresses(v)]
    parts, current, quoted, angled = [], [], False, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch in "<>":
            angled = ch == "<"
        if ch in _SEPARATORS and not quoted and not angled:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_addresses(value: str | Iterable[str] | None) -> list[Mailbox]:
    """Every address in `value`, validated; the first bad one raises InvalidAddress."""
    return [parse_address(text) for text in split_addresses(value)]
