"""Recipients for a bulk send: from a list or a CSV with an email column plus personal columns.

Column names become template variables (`First Name` -> `first_name`). Invalid and repeated
addresses are set aside with a reason instead of failing the whole list.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import PermanentError
from app.mail.addresses import InvalidAddress, parse_address

MAX_RECIPIENTS = 50_000
EMAIL_COLUMNS = ("email", "e_mail", "email_address", "mail", "address", "to")
_NOT_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]+")


@dataclass(frozen=True)
class Recipient:
    """One addressee and the values its message is personalised with."""

    email: str
    name: str
    fields: dict[str, str]
    row: int  # 1-based position in the list, or the CSV line number

    def context(self) -> dict[str, str]:
        """Template variables for this recipient: every column, plus email and name."""
        name = self.name or self.fields.get("name", "")
        return {**self.fields, "email": self.email, "name": name}

    @property
    def mailbox(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Rejected:
    """An entry that will not be sent to, and why."""

    row: int
    value: str
    reason: str


@dataclass
class RecipientList:
    recipients: list[Recipient] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.recipients) + len(self.rejected)


def column_variable(name: str) -> str:
    """The template variable for a CSV column: `First Name` -> `first_name`."""
    cleaned = _NOT_IDENTIFIER.sub("_", name.strip().lower()).strip("_") or "column"
    return f"c_{cleaned}" if cleaned[0].isdigit() else cleaned


def from_entries(entries: Iterable[str | Mapping[str, Any]]) -> RecipientList:
    """Recipients from addresses (`a@x.org`, `Ann <a@x.org>`) or dicts with an `email` key."""
    rows = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, Mapping):
            rows.append((number, {column_variable(str(k)): _text(v) for k, v in entry.items()}))
        else:
            rows.append((number, {"email": _text(entry)}))
    columns = sorted({key for _, row in rows for key in row})
    return _collect(rows, "email", columns)


def load_csv(source: Path | bytes | str, email_column: str | None = None) -> RecipientList:
    """Recipients from CSV bytes, text or a file; raises PermanentError when it has no emails."""
    text = _decode(source.read_bytes() if isinstance(source, Path) else source)
    reader = csv.reader(io.StringIO(text), dialect=_dialect(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise PermanentError("The CSV file is empty: it needs a header row with an email column.")
    columns = _unique_columns(header)
    email_key = _email_column(columns, email_column)
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        rows.append((reader.line_num, {c: _text(v) for c, v in zip(columns, values)}))
        if len(rows) > MAX_RECIPIENTS:
            raise PermanentError(f"The CSV has more than {MAX_RECIPIENTS:,} recipients.")
    return _collect(rows, email_key, columns)


def _collect(
    rows: list[tuple[int, dict[str, str]]], email_key: str, columns: list[str]
) -> RecipientList:
    result = RecipientList(columns=columns)
    seen: set[str] = set()
    for number, row in rows:
        raw = row.get(email_key, "")
        try:
            box = parse_address(raw)
        except InvalidAddress as exc:
            result.rejected.append(Rejected(number, raw, exc.reason))
            continue
        except PermanentError as exc:
            result.rejected.append(Rejected(number, raw, str(exc)))
            continue
        if box.address.lower() in seen:
            result.rejected.append(
                Rejected(number, raw, "The address appears earlier in the list.")
            )
            continue
        seen.add(box.address.lower())
        fields = {k: v for k, v in row.items() if k != email_key}
        result.recipients.append(Recipient(box.address, box.name, fields, number))
    return result


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet programs on Windows still export CSV in their ANSI code page.
        return data.decode("cp1252", errors="replace")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _unique_columns(header: list[str]) -> list[str]:
    columns: list[str] = []
    for name in header:
        base = column_variable(name)
        candidate, n = base, 2
        while candidate in columns:
            candidate, n = f"{base}_{n}", n + 1
        columns.append(candidate)
    return columns


def _email_column(columns: list[str], wanted: str | None) -> str:
    if wanted:
        key = column_variable(wanted)
        if key not in columns:
            raise PermanentError(f"The CSV has no column called {wanted!r}.")
        return key
    for candidate in EMAIL_COLUMNS:
        if candidate in columns:
            return candidate
    raise PermanentError(
        "The CSV has no email column: name one of the header cells 'email'."
        f" The columns are: {', '.join(columns)}."
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
