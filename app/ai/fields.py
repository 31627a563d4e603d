"""Invoice, receipt and custom fields read from documents, one row per file.

A document's text comes from app.office (a scanned PDF or an image is OCR'd first, in this
process). With a provider the fields come back as structured output (Anthropic tool use,
OpenAI's `response_format` JSON schema) and are validated with pydantic; a reply that does not
validate is that file's error. Without one, regular-expression rules find what they can and the
result says so: "offline", and which fields the rules found.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from app.ai.chunking import estimate_tokens
from app.ai.providers import LABELS
from app.ai.types import Message, Usage
from app.errors import JobError, PermanentError, TransientError
from app.reports.cells import csv_value

if TYPE_CHECKING:
    from app.ai.service import AIService

SCHEMAS = ("invoice", "receipt", "custom")
OFFLINE = "offline"
OFFLINE_MODEL = "offline-rules"
OFFLINE_LABEL = "Offline extraction: fields found by rules in the text, no AI model used."
MAX_CUSTOM_FIELDS = 40
MAX_FILES = 100
ROWS_IN_RECORD = 50
VALUE_IN_RECORD = 200
PROMPT_OVERHEAD = 300
SYSTEM = (
    "You read business documents and record their fields exactly as the document states "
    "them. Use null for anything the document does not say; never guess. Dates as YYYY-MM-DD, "
    "amounts as plain numbers, currency as an ISO 4217 code."
)
Progress = Callable[[int, int, str], None]


# parsing values -------------------------------------------------------------------------------

MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")], 1)
    for name in names
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_PATTERNS = (
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(r"\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>\d{4})\b"),  # dd/mm/yyyy
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH})\.?,?\s+(?P<y>\d{{4}})\b",
               re.IGNORECASE),
    re.compile(rf"\b(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b",
               re.IGNORECASE),
)
# Thousands grouped by space, comma, dot or apostrophe; then up to two decimals.
_AMOUNT = r"(?<![\d.,])[-+]?(?:\d{1,3}(?:[ ,.'’]\d{3})+|\d+)(?:[.,]\d{1,2})?(?!\d)"
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}
CURRENCY_CODES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN",
                  "CZK", "HUF", "INR", "CNY")


def parse_date(text: str) -> dt.date | None:
    """The first date in `text`: ISO, dd/mm/yyyy (day first) or "12 March 2026"; else None."""
    found = sorted(
        (match for pattern in DATE_PATTERNS for match in pattern.finditer(text)),
        key=lambda match: match.start(),
    )
    for match in found:
        parts = match.groupdict()
        month = MONTHS[parts["mon"].lower()] if parts.get("mon") else int(parts["m"])
        try:
            return dt.date(int(parts["y"]), month, int(parts["d"]))
        except ValueError:
            continue  # 31/02/2026 is no date: look on
    return None


def parse_amount(text: str) -> float | None:
    """A number from "1,234.50", "1.234,50", "1 234,50" or "EUR 99"; None when there is none."""
    match = re.search(_AMOUNT, text.replace("\u00a0", " "))
    if match is None:
        return None
    number = re.sub(r"[ '’]", "", match.group())
    last_sep = max(number.rfind(","), number.rfind("."))
    # The last separator is the decimal point when two digits or fewer follow it.
    if last_sep >= 0 and len(number) - last_sep - 1 <= 2:
        whole, cents = number[:last_sep], number[last_sep + 1 :]
        number = re.sub(r"[,.]", "", whole) + "." + cents
    else:
        number = re.sub(r"[,.]", "", number)
    return float(number)


def parse_currency(text: str) -> str | None:
    """The first currency named in `text`, as an ISO code ("€" → "EUR")."""
    codes = re.search(rf"\b({'|'.join(CURRENCY_CODES)})\b", text)
    symbols = [(text.find(s), code) for s, code in CURRENCY_SYMBOLS.items() if s in text]
    candidates = sorted(([(codes.start(), codes.group(1))] if codes else []) + symbols)
    return candidates[0][1] if candidates else None


# schemas ----------------------------------------------------------------------------------------


class Fields(BaseModel):
    """Every schema: unknown keys refused, dates and amounts read from common spellings."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _spelled(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        annotation = str(cls.model_fields[info.field_name].annotation)
        if "date" in annotation:
            parsed = parse_date(value)
            if parsed is None:
                raise ValueError(f"'{value[:40]}' is not a date")
            return parsed
        if "float" in annotation:
            amount = parse_amount(value)
            if amount is None:
                raise ValueError(f"'{value[:40]}' is not a number")
            return amount
        return value


class LineItem(Fields):
    description: str | None = None
    quantity: float | None = None
    unit_price: float | None = None
    amount: float | None = None


class Invoice(Fields):
    invoice_number: str | None = None
    issue_date: dt.date | None = None
    due_date: dt.date | None = None
    seller: str | None = None
    buyer: str | None = None
    currency: str | None = Field(None, description="ISO 4217 code, e.g. EUR")
    subtotal: float | None = None
    tax: float | None = None
    total: float | None = None
    seller_vat_id: str | None = None
    buyer_vat_id: str | None = None
    line_items: list[LineItem] = Field(default_factory=list)


class ReceiptItem(Fields):
    description: str | None = None
    quantity: float | None = None
    amount: float | None = None


class Receipt(Fields):
    merchant: str | None = None
    date: dt.date | None = None
    currency: str | None = Field(None, description="ISO 4217 code, e.g. EUR")
    total: float | None = None
    tax: float | None = None
    items: list[ReceiptItem] = Field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    """A chosen schema: its name, the pydantic model, and the scalar columns of a row."""

    name: str
    model: type[BaseModel]

    @property
    def columns(self) -> list[str]:
        return [n for n, f in self.model.model_fields.items() if not _is_list(f.annotation)]

    @property
    def item_field(self) -> str | None:
        return next((n for n, f in self.model.model_fields.items() if _is_list(f.annotation)),
                    None)


def _is_list(annotation: Any) -> bool:
    return str(annotation).startswith("list[")


def field_key(label: str) -> str:
    """A custom field's key: "PO number" → "po_number"."""
    return re.sub(r"\W+", "_", label.strip().lower()).strip("_")[:60]


def spec_for(schema: str, fields: Sequence[str] | None = None) -> Spec:
    """The Spec for "invoice", "receipt" or "custom" (with its field names); else a sentence."""
    if schema == "invoice":
        return Spec("invoice", Invoice)
    if schema == "receipt":
        return Spec("receipt", Receipt)
    if schema != "custom":
        raise PermanentError(
            f"'{schema}' is not a schema this knows: choose invoice, receipt or custom."
        )
    keys = list(dict.fromkeys(k for k in map(field_key, fields or []) if k))
    if not keys:
        raise PermanentError("Name at least one field to extract, e.g. 'order number, date'.")
    if len(keys) > MAX_CUSTOM_FIELDS:
        raise PermanentError(f"Name at most {MAX_CUSTOM_FIELDS} fields, not {len(keys)}.")
    # Aliases carry the keys: a field called "json" or "copy" must not shadow BaseModel's own.
    definitions: dict[str, Any] = {
        f"f{i}": (str | None, Field(None, alias=key)) for i, key in enumerate(keys)
    }
    config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    model = create_model("CustomFields", __config__=config, **definitions)
    return Spec("custom", model)


def provider_schema(spec: Spec) -> dict[str, Any]:
    """The JSON schema sent to a provider: every property required (null when absent), no
    other properties, no defaults or titles: what OpenAI's strict mode accepts."""
    return _strict(spec.model.model_json_schema(by_alias=True))


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "$defs"):  # maps of names: every name is kept
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key not in ("default", "title"):
            out[key] = _strict(value)
    if "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


# one extraction -------------------------------------------------------------------------------


@dataclass
class Extraction:
    """One document's fields (JSON-ready), how they were found, and what that used."""

    fields: dict[str, Any]
    method: str
    usage: Usage
    found_by_rules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def extract(ai: AIService, text: str, spec: Spec) -> Extraction:
    """The fields of one document's text: by the provider when the service has one, else by
    the offline rules. Raises PermanentError for no text or a reply that does not validate."""
    if not text.strip():
        raise PermanentError("The document has no text to read fields from.")
    if ai.provider is None:
        return extract_offline(text, spec)
    return extract_with_provider(ai, text, spec)


def extract_with_provider(ai: AIService, text: str, spec: Spec) -> Extraction:
    schema = provider_schema(spec)
    budget = ai.input_budget(SYSTEM) - PROMPT_OVERHEAD - estimate_tokens(json.dumps(schema))
    sent, notes = _fit(text, max(200, budget))
    user = (
        f"Record the {spec.name} fields of this document.\n\n<document>\n{sent}\n</document>"
    )
    reply = ai.call_json([Message("user", user)], SYSTEM, schema, f"{spec.name}_fields")
    info = ai.require().info
    label = LABELS.get(info.name, info.label)
    if reply.cut:
        raise PermanentError(
            f"{label}'s answer reached the model's output limit and stops early, so the "
            "fields could not be read."
        )
    try:
        found = spec.model.model_validate_json(reply.text or "null")
    except ValidationError as exc:
        raise PermanentError(
            f"{label}'s answer did not match the {spec.name} schema ({_first_problem(exc)}); "
            "no fields were recorded for this file."
        ) from None
    return Extraction(found.model_dump(mode="json", by_alias=True),
                      reply.usage.provider, reply.usage, notes=notes)


def _fit(text: str, budget: int) -> tuple[str, list[str]]:
    """The text, or its start and end when too long: totals usually close a document."""
    if estimate_tokens(text) <= budget:
        return text, []
    chars = budget * 4  # estimate_tokens counts about four characters a token
    head, tail = text[: chars * 2 // 3], text[-(chars // 3) :]
    note = (
        f"The document is longer than the model's context budget, so only its first "
        f"{len(head):,} and last {len(tail):,} characters were read."
    )
    return f"{head}\n[…]\n{tail}", [note]


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "the answer"
    return f"{where}: {error['msg']}"


# offline rules ----------------------------------------------------------------------------------

_NUMBER_VALUE = r"(?P<value>[A-Z]{0,6}[-/]?\d(?:[A-Z0-9\-/.]{0,30}[A-Z0-9])?)"
# "Invoice number: 2026-17", "Invoice no. A-17", "Rechnung Nr. 17": the label is a word of its
# own, followed by white space or a colon, so "INV-2026-17" is not read as label "INV".
INVOICE_NUMBER = re.compile(
    r"\b(?:invoice|inv|bill|rechnung|facture)(?:\s*(?:no\.?|number|num\.?|nr\.?|#|id))?"
    rf"(?:\s*[:#.]\s*|\s+){_NUMBER_VALUE}",
    re.IGNORECASE,
)
# Without a label, a token shaped like an invoice number: "INV-2026-0042", "RE-17/2026".
NUMBER_SHAPED = re.compile(r"\b(?P<value>(?:INV|RE|FA|BILL)[-/]?\d[A-Z0-9\-/]{0,30}[A-Z0-9])\b")
# The total a person pays, most telling label first; "subtotal" is never one of them.
TOTAL_LABELS = ("amount due", "balance due", "grand total", "total due", "total amount",
                "invoice total", "total")
SUBTOTAL_LABELS = ("subtotal", "sub-total", "sub total", "net amount", "net total")
TAX_LABELS = ("vat", "tax", "gst", "mwst", "tva", "iva")
DUE_LABELS = ("due date", "payment due", "due by", "due on", "due")
ISSUE_LABELS = ("invoice date", "issue date", "date of issue", "issued on", "issued", "date")
# EU VAT ids by country (and the UK's), from the published formats.
VAT_ID = re.compile(
    r"\b(ATU\d{8}|BE[01]\d{9}|BG\d{9,10}|CY\d{8}[A-Z]|CZ\d{8,10}|DE\d{9}|DK\d{8}|EE\d{9}|"
    r"EL\d{9}|ES[A-Z0-9]\d{7}[A-Z0-9]|FI\d{8}|FR[A-HJ-NP-Z0-9]{2}\d{9}|"
    r"GB(?:\d{9}|\d{12}|GD\d{3}|HA\d{3})|XI\d{9}|HR\d{11}|HU\d{8}|IE\d{7}[A-W][A-I]?|"
    r"IE\d[A-Z+*]\d{5}[A-W]|IT\d{11}|LT(?:\d{9}|\d{12})|LU\d{8}|LV\d{11}|MT\d{8}|"
    r"NL\d{9}B\d{2}|PL\d{10}|PT\d{9}|RO\d{2,10}|SE\d{12}|SI\d{8}|SK\d{10})\b"
)


def extract_offline(text: str, spec: Spec) -> Extraction:
    """The fields the rules find; the rest stay empty. `found_by_rules` names what was found."""
    rules: dict[str, Callable[[str], Any]] = {
        "invoice": invoice_rules, "receipt": receipt_rules,
    }
    found = rules.get(spec.name, lambda t: custom_rules(t, spec))(text)
    checked = spec.model.model_validate(found).model_dump(mode="json", by_alias=True)
    by_rules = [k for k, v in checked.items() if v not in (None, [], "")]
    usage = Usage(provider=OFFLINE, model=OFFLINE_MODEL, cost_usd=0.0)
    return Extraction(checked, OFFLINE, usage, found_by_rules=by_rules)


def invoice_rules(text: str) -> dict[str, Any]:
    """Invoice number, dates, amounts, currency and VAT ids found by rules."""
    vat_ids = list(dict.fromkeys(m.group(1) for m in VAT_ID.finditer(_squeeze_ids(text))))
    number = INVOICE_NUMBER.search(text) or NUMBER_SHAPED.search(text)
    return {
        "invoice_number": number.group("value") if number else None,
        "issue_date": labelled_date(text, ISSUE_LABELS, avoid=("due",)) or parse_date(text),
        "due_date": labelled_date(text, DUE_LABELS),
        "seller": labelled_value(text, ("seller", "from", "supplier", "vendor")),
        "buyer": labelled_value(text, ("buyer", "bill to", "billed to", "customer", "to")),
        "currency": parse_currency(text),
        "subtotal": labelled_amount(text, SUBTOTAL_LABELS),
        "tax": labelled_amount(text, TAX_LABELS),
        "total": labelled_amount(text, TOTAL_LABELS),
        "seller_vat_id": vat_ids[0] if vat_ids else None,
        "buyer_vat_id": vat_ids[1] if len(vat_ids) > 1 else None,
    }


def receipt_rules(text: str) -> dict[str, Any]:
    """Merchant (the first line), date, currency, total and tax found by rules."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return {
        "merchant": first[:120] if first else None,
        "date": parse_date(text),
        "currency": parse_currency(text),
        "total": labelled_amount(text, TOTAL_LABELS),
        "tax": labelled_amount(text, TAX_LABELS),
    }


def custom_rules(text: str, spec: Spec) -> dict[str, Any]:
    """A custom field's value is what follows its name and a colon ("Order number: 42")."""
    keys = [f.alias or n for n, f in spec.model.model_fields.items()]
    return {key: labelled_value(text, (key.replace("_", " "),)) for key in keys}


def _words(label: str) -> str:
    """A label as a pattern: any run of white space between its words."""
    return r"\s+".join(re.escape(word) for word in label.split())


def _label_pattern(labels: Sequence[str], value: str) -> re.Pattern[str]:
    names = "|".join(_words(label) for label in labels)
    # An optional "(19%)" between label and value, as in "VAT (19%): 19.00".
    return re.compile(
        rf"(?<![\w-])(?P<label>{names})\b\s*(?:\([^)\n]*\))?\s*[:#]?[ \t]*{value}",
        re.IGNORECASE,
    )


def labelled_value(text: str, labels: Sequence[str]) -> str | None:
    """The rest of the line after the first of `labels` followed by a colon."""
    for label in labels:
        pattern = rf"(?<![\w-]){_words(label)}\s*:[ \t]*(?P<v>[^\n\r]+)"
        match = re.search(pattern, text, re.IGNORECASE)
        if match and match.group("v").strip():
            return match.group("v").strip()[:200]
    return None


def labelled_amount(text: str, labels: Sequence[str]) -> float | None:
    """The amount after the first label (in order of `labels`) that has one."""
    for label in labels:
        pattern = _label_pattern(
            # The amount may wrap onto the next line, as OCR and narrow columns leave it.
            (label,), rf"(?:[A-Z]{{3}}|[€$£¥₹])?[ \t]*(?:\r?\n[ \t]*)?(?P<v>{_AMOUNT})(?![\d%])"
        )
        for match in pattern.finditer(text):
            if _is_sub_label(text, match.start(), label):
                continue
            return parse_amount(match.group("v"))
    return None


def _is_sub_label(text: str, start: int, label: str) -> bool:
    """True for "Subtotal" read as "total", or "VAT ID" / "Tax number" read as the tax."""
    before = text[max(0, start - 4) : start].lower()
    after = text[start + len(label) : start + len(label) + 12].lower()
    if label == "total" and re.search(r"sub[\s-]?$", before):
        return True
    return label in TAX_LABELS and bool(re.match(r"\s*(id|no|number|reg|registration|#)", after))


def labelled_date(
    text: str, labels: Sequence[str], avoid: Sequence[str] = ()
) -> dt.date | None:
    """The first date on a line that names one of `labels` (and none of `avoid`)."""
    for label in labels:
        for line in text.splitlines() or [text]:
            lowered = line.lower()
            where = lowered.find(label)
            if where < 0 or any(word in lowered for word in avoid):
                continue
            found = parse_date(line[where:])
            if found:
                return found
    return None


def _squeeze_ids(text: str) -> str:
    """VAT ids are often printed with spaces or dots ("DE 123 456 789"); join them up."""
    return re.sub(r"\b([A-Z]{2})[ .]?(\d[\d .]{6,16}\d)",
                  lambda m: m.group(1) + re.sub(r"[ .]", "", m.group(2)), text)


# a document's text ------------------------------------------------------------------------------


@dataclass
class Document:
    """One file of the batch: its local path and the name the person gave it."""

    path: Path
    name: str


def document_text(
    path: Path, name: str, languages: list[str], page_timeout: float = 180.0
) -> tuple[str, bool]:
    """(text, OCR used) of a PDF, Word document, image or text file, past the file guard.

    A PDF with a page lacking text, and every image, is OCR'd first (tesseract, in-process).
    """
    from app import filetypes
    from app.ai.inputs import TEXT_TYPES, read_text_file
    from app.office import guard

    kind = filetypes.sniff_file(path)
    if kind in TEXT_TYPES:
        guard.check_size(path)
        return read_text_file(path, name), False
    family = guard.family_of(kind)
    if family not in ("pdf", "docx", "image"):
        raise PermanentError(
            f"{name} is not a document fields can be read from ({filetypes.describe(kind)}). "
            "Upload a PDF, Word document, image or text file."
        )
    guard.check_file(path, family, name)
    if family == "docx":
        return _word_text(path), False
    if family == "pdf" and not _needs_ocr(path):
        from app.office import pdf

        return "\n\n".join(pdf.page_texts(path)), False
    return _ocr_text(path, name, languages, page_timeout), True


def _needs_ocr(path: Path) -> bool:
    from app.office import ocr

    return len(ocr.pages_with_text(path)) < ocr.page_count(path)


def _word_text(path: Path) -> str:
    from app.office import word
    from app.office.outputs import OutputFolder

    document = word.open_document(path)
    with tempfile.TemporaryDirectory(prefix="nexus-fields-") as folder:
        out = OutputFolder(Path(folder))
        summary = word.extract_text(document, out, "document")
        return (Path(folder) / summary["text_file"]).read_text(encoding="utf-8")


def _ocr_text(path: Path, name: str, languages: list[str], page_timeout: float) -> str:
    from app.office import ocr
    from app.office.outputs import OutputFolder

    with tempfile.TemporaryDirectory(prefix="nexus-fields-ocr-") as folder:
        out = OutputFolder(Path(folder))
        summary = ocr.ocr_file(path, out, languages=languages, page_timeout=page_timeout,
                               name=name)
        return (Path(folder) / summary["text_file"]).read_text(encoding="utf-8")


# a batch of files --------------------------------------------------------------------------------


def extract_files(
    ai: AIService,
    documents: Sequence[Document],
    spec: Spec,
    *,
    languages: list[str],
    progress: Progress,
) -> list[dict[str, Any]]:
    """One row per document, in order; a document that fails has its error on its row.

    `progress(done, total, message)` runs before each file and may raise JobCancelled: the
    batch stops between files. A TransientError (a provider's rate limit) is raised so the job
    retries; any other failure stays on its row.
    """
    if not documents:
        raise PermanentError("Choose at least one document.")
    if len(documents) > MAX_FILES:
        raise PermanentError(f"Choose at most {MAX_FILES} documents, not {len(documents)}.")
    rows = []
    for done, document in enumerate(documents):
        progress(done, len(documents), f"Reading {document.name} ({done + 1} of {len(documents)})")
        rows.append(_row(ai, document, spec, languages))
    progress(len(documents), len(documents), "Done")
    return rows


def _row(ai: AIService, document: Document, spec: Spec, languages: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"file": document.name, "status": "failed", "error": "", "ocr": False}
    try:
        text, row["ocr"] = document_text(document.path, document.name, languages)
        found = extract(ai, text, spec)
    except TransientError:
        raise
    except JobError as exc:
        row["error"] = str(exc)
        return row
    except Exception as exc:  # one file's parser bug must not sink the batch
        row["error"] = f"Unexpected error ({type(exc).__name__}): {str(exc)[:200]}"
        return row
    row.update(status="ok", method=found.method, fields=found.fields,
               found_by_rules=found.found_by_rules, notes=found.notes,
               usage=found.usage.as_dict())
    return row


# outputs ----------------------------------------------------------------------------------------


def flat_row(row: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """A row as table columns: file, status, every scalar field, the items as JSON, error."""
    fields = row.get("fields") or {}
    flat = {"file": row["file"], "status": row["status"]}
    flat.update({column: fields.get(column) for column in _keys(spec)})
    if spec.item_field:
        items = fields.get(spec.item_field) or []
        flat[spec.item_field] = json.dumps(items, ensure_ascii=False) if items else None
    flat["found_by_rules"] = ", ".join(row.get("found_by_rules") or []) or None
    flat["error"] = row.get("error") or None
    return flat


def _keys(spec: Spec) -> list[str]:
    return [spec.model.model_fields[n].alias or n for n in spec.columns]


def columns(spec: Spec) -> list[str]:
    return ["file", "status", *_keys(spec), *([spec.item_field] if spec.item_field else []),
            "found_by_rules", "error"]


def write_csv(rows: list[dict[str, Any]], spec: Spec, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(spec))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_value(v) for k, v in flat_row(row, spec).items()})


def write_json(rows: list[dict[str, Any]], spec: Spec, path: Path) -> None:
    keep = ("file", "status", "error", "ocr", "method", "fields", "found_by_rules", "notes")
    body = {"schema": spec.name, "rows": [{k: r[k] for k in keep if k in r} for r in rows]}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")


def write_xlsx(rows: list[dict[str, Any]], spec: Spec, path: Path) -> None:
    """A Fields sheet (one row per file) and, for invoices and receipts, an Items sheet."""
    from app.reports.xlsx import Sheet, workbook

    book, styles = workbook(path)
    sheet = Sheet(book, "Fields", styles)
    sheet.append(columns(spec), styles.header)
    for row in rows:
        values = flat_row(row, spec)
        sheet.append(_typed(values.get(c)) for c in columns(spec))
    if spec.item_field:
        items = Sheet(book, "Items", styles)
        names = list(spec.model.model_fields[spec.item_field].annotation.__args__[0].model_fields)
        items.append(["file", *names], styles.header)
        for row in rows:
            for item in (row.get("fields") or {}).get(spec.item_field) or []:
                items.append([row["file"], *(item.get(n) for n in names)])
    book.close()


def _typed(value: Any) -> Any:
    """An ISO date string as a date cell; everything else as it is (text stays text)."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def summary(rows: list[dict[str, Any]], spec: Spec, ai: AIService) -> dict[str, Any]:
    """The job's result: counts, the usage, the first rows (values shortened) for the page."""
    usage = Usage()
    for row in rows:
        if row.get("usage"):
            usage.add(Usage(**{k: v for k, v in row["usage"].items() if k != "total_tokens"}))
    offline = ai.provider is None
    info = ai.provider.info if ai.provider is not None else None
    shown = [_short(flat_row(r, spec)) for r in rows[:ROWS_IN_RECORD]]
    result = {
        "operation": "extract_fields",
        "schema": spec.name,
        "columns": columns(spec),
        "offline": offline,
        "provider": info.name if info else OFFLINE,
        "model": info.model if info else OFFLINE_MODEL,
        "total": len(rows),
        "succeeded": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] != "ok" for r in rows),
        "rows": shown,
        "usage": usage.as_dict(),
        "notes": list(dict.fromkeys(n for r in rows for n in r.get("notes") or [])),
    }
    if offline:
        result["label"] = OFFLINE_LABEL
    if len(rows) > ROWS_IN_RECORD:
        result["notes"].append(
            f"The page shows the first {ROWS_IN_RECORD} of {len(rows)} rows; the downloads "
            "hold all of them."
        )
    return result


def _short(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v[:VALUE_IN_RECORD] if isinstance(v, str) else v for k, v in row.items()}
