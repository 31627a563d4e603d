"""The pure parts of field extraction: value parsing, the offline rules, the schemas, outputs,
and the structured call through the real SDKs against the wire-format server."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.ai import fields
from app.ai.service import build_service
from app.errors import PermanentError
from app.settings import Settings
from tests.support.fake_ai import FakeAIServer

INVOICE = """ACME Tools GmbH
INVOICE
Invoice no.: 2026/0042
Invoice date: 03/02/2026
Payment due: 5 April 2026
VAT ID: DE 123 456 789
Bill to: Widgets Ltd, VAT GB123456789
Subtotal: € 1.037,39
VAT (19%): € 197,11
Amount due: € 1.234,50
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Issued 2026-03-12.", dt.date(2026, 3, 12)),
        ("on 12/03/2026", dt.date(2026, 3, 12)),  # day first
        ("on 12.03.2026", dt.date(2026, 3, 12)),
        ("12 March 2026", dt.date(2026, 3, 12)),
        ("1st Sept. 2026", dt.date(2026, 9, 1)),
        ("March 12, 2026", dt.date(2026, 3, 12)),
        ("31/02/2026, then 01/03/2026", dt.date(2026, 3, 1)),  # no 31 February
        ("no date here", None),
    ],
)
def test_dates_in_the_spellings_invoices_use(text: str, expected: dt.date | None) -> None:
    assert fields.parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,234.50", 1234.5), ("1.234,50", 1234.5), ("1 234,50", 1234.5), ("1234.5", 1234.5),
     ("EUR 99", 99.0), ("1.234", 1234.0), ("12,5", 12.5), ("none", None)],
)
def test_amounts_with_either_decimal_mark(text: str, expected: float | None) -> None:
    assert fields.parse_amount(text) == expected


def test_currency_from_a_code_or_a_symbol() -> None:
    assert fields.parse_currency("Total: 12.00 USD") == "USD"
    assert fields.parse_currency("Summe: 12,00 €") == "EUR"
    assert fields.parse_currency("£4.20, about EUR 5") == "GBP"  # whichever comes first
    assert fields.parse_currency("12.00") is None


def test_the_invoice_rules_find_number_dates_amounts_and_vat_ids() -> None:
    found = fields.extract_offline(INVOICE, fields.spec_for("invoice"))
    got = found.fields
    assert got["invoice_number"] == "2026/0042"
    assert (got["issue_date"], got["due_date"]) == ("2026-02-03", "2026-04-05")
    assert (got["subtotal"], got["tax"], got["total"]) == (1037.39, 197.11, 1234.5)
    assert got["currency"] == "EUR"
    assert (got["seller_vat_id"], got["buyer_vat_id"]) == ("DE123456789", "GB123456789")
    assert got["buyer"].startswith("Widgets Ltd")
    assert found.method == "offline" and found.usage.cost_usd == 0.0
    assert set(found.found_by_rules) >= {"invoice_number", "issue_date", "total", "tax"}
    assert "line_items" not in found.found_by_rules  # the rules never invent line items


def test_subtotal_and_vat_id_lines_are_not_read_as_total_and_tax() -> None:
    text = "Sub total: 90.00\nVAT number: FRXX123456789\nTax: 10.00\nTotal 100.00"
    got = fields.invoice_rules(text)
    assert (got["subtotal"], got["tax"], got["total"]) == (90.0, 10.0, 100.0)
    assert got["seller_vat_id"] == "FRXX123456789"


def test_a_number_shaped_token_is_found_without_a_label() -> None:
    assert fields.invoice_rules("Ref INV-2026-0042 of 12 March")["invoice_number"] == (
        "INV-2026-0042"
    )
    assert fields.invoice_rules("Invoice date: 12/03/2026")["invoice_number"] is None


def test_receipt_rules_take_the_first_line_as_merchant() -> None:
    got = fields.extract_offline(
        "Corner Cafe\n2026-05-01 08:12\n2 Coffee 6.40\nTax 0.51\nTotal: $6.91\n",
        fields.spec_for("receipt"),
    ).fields
    assert (got["merchant"], got["date"], got["total"], got["tax"], got["currency"]) == (
        "Corner Cafe", "2026-05-01", 6.91, 0.51, "USD"
    )


def test_custom_fields_are_read_from_labelled_lines() -> None:
    spec = fields.spec_for("custom", ["Order number", "json", "Delivery date", "Order number"])
    found = fields.extract_offline("Order number: PO-77\nDelivery date: 1 May", spec)
    assert found.fields == {"order_number": "PO-77", "json": None, "delivery_date": "1 May"}
    assert found.found_by_rules == ["order_number", "delivery_date"]


@pytest.mark.parametrize(
    ("schema", "names", "message"),
    [("custom", [], "Name at least one field"), ("custom", [" ", "!"], "Name at least one"),
     ("passport", None, "'passport' is not a schema"),
     ("custom", [f"f{i}" for i in range(41)], "at most 40 fields")],
)
def test_a_bad_schema_is_a_sentence(schema: str, names, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        fields.spec_for(schema, names)


def test_the_provider_schema_is_strict_and_keeps_fields_named_like_keywords() -> None:
    schema = fields.provider_schema(fields.spec_for("custom", ["title", "default"]))
    assert list(schema["properties"]) == ["title", "default"]
    assert schema["required"] == ["title", "default"]
    assert schema["additionalProperties"] is False
    assert "default" not in schema["properties"]["title"]
    invoice = fields.provider_schema(fields.spec_for("invoice"))
    item = invoice["$defs"]["LineItem"]
    assert item["required"] == ["description", "quantity", "unit_price", "amount"]
    assert invoice["properties"]["issue_date"]["anyOf"][0] == {"format": "date", "type": "string"}


def test_validation_reads_common_spellings_and_refuses_the_rest() -> None:
    model = fields.Invoice
    parsed = model.model_validate({"total": "1.234,50", "issue_date": "12 March 2026",
                                   "invoice_number": 42})
    assert (parsed.total, parsed.issue_date, parsed.invoice_number) == (
        1234.5, dt.date(2026, 3, 12), "42"
    )
    with pytest.raises(ValueError, match="is not a number"):
        model.model_validate({"total": "lots"})
    with pytest.raises(ValueError):
        model.model_validate({"colour": "red"})  # unknown keys are refused


@pytest.mark.parametrize("route", ["anthropic", "openai"])
def test_a_structured_reply_through_the_real_sdks(
    route: str, fake: FakeAIServer, anthropic_settings: Settings, local_settings: Settings
) -> None:
    settings = anthropic_settings if route == "anthropic" else local_settings
    used = []
    ai = build_service(route, settings=settings, on_usage=used.append)
    text = "Invoice number: A-17\nIssue date: 2026-01-31\nTotal: 99.90\n"
    found = fields.extract(ai, text, fields.spec_for("invoice"))
    assert (found.fields["invoice_number"], found.fields["issue_date"], found.fields["total"]) == (
        "A-17", "2026-01-31", 99.9
    )
    assert found.found_by_rules == [] and len(used) == 1 and used[0].requests == 1

    fake.structured_reply = {"total": "plenty", "surprise": 1}
    with pytest.raises(PermanentError, match="answer did not match the invoice schema"):
        fields.extract(ai, text, fields.spec_for("invoice"))
    assert len(used) == 2  # a reply that fails validation was still paid for


def test_a_plain_request_still_gets_plain_text(fake: FakeAIServer, anthropic_settings) -> None:
    ai = build_service("anthropic", settings=anthropic_settings)
    assert ai.complete("Say hello").text == "Answer #1 to: Say hello"


def test_a_file_that_is_not_a_document_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "data.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PermanentError, match=r"data\.bin is not a document fields can be read"):
        fields.document_text(junk, "data.bin", ["eng"])
    note = tmp_path / "note.txt"
    note.write_text("Invoice number: 7\n")
    assert fields.document_text(note, "note.txt", ["eng"]) == ("Invoice number: 7\n", False)


def test_rows_fail_alone_and_outputs_hold_one_row_per_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "empty.txt"
    good.write_text("Bill to: =HYPERLINK(1)\nTotal: 10.00\nDate: 2026-01-02\n")
    bad.write_text("   ")
    spec = fields.spec_for("invoice")
    ai = build_service("offline", settings=Settings(_env_file=None))
    seen = []
    rows = fields.extract_files(
        ai, [fields.Document(good, "good.txt"), fields.Document(bad, "empty.txt")], spec,
        languages=["eng"], progress=lambda done, total, message: seen.append((done, total)),
    )
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert rows[1]["error"] == "The document has no text to read fields from."
    assert seen == [(0, 2), (1, 2), (2, 2)]

    fields.write_csv(rows, spec, tmp_path / "f.csv")
    fields.write_xlsx(rows, spec, tmp_path / "f.xlsx")
    table = list(csv.DictReader(io.StringIO((tmp_path / "f.csv").read_text("utf-8-sig"))))
    assert [r["file"] for r in table] == ["good.txt", "empty.txt"]
    assert table[0]["total"] == "10.0" and table[1]["total"] == ""
    assert table[0]["buyer"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    sheet = load_workbook(tmp_path / "f.xlsx")["Fields"]
    header, first, _ = list(sheet.iter_rows(values_only=True))
    row = dict(zip(header, first))
    assert row["issue_date"] == dt.datetime(2026, 1, 2) and row["total"] == 10.0
    assert row["buyer"] == "'=HYPERLINK(1)"
    summary = fields.summary(rows, spec, ai)
    assert (summary["offline"], summary["succeeded"], summary["failed"]) == (True, 1, 1)
    assert summary["label"] == fields.OFFLINE_LABEL
