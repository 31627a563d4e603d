"""extract_fields on a real ai worker: the real SDKs against the wire-format server, real OCR.

The fake answers a structured request with the schema's properties filled from "Name: value"
lines of the prompt, so what comes back is what the invoice PDF says.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from reportlab.pdfgen import canvas

from app import jobs
from tests.integration import test_ai_queue as ai_queue
from tests.support.fake_ai import FakeAIServer
from tests.support.users import ADMIN, TESTER
from tests.unit.office import samples

pytestmark = pytest.mark.integration

# The ai queue's fixtures: a threads-pool ai worker on the fake provider, for this module too.
fake_ai, ai_worker, fake = ai_queue.fake_ai, ai_queue.ai_worker, ai_queue.fake
page_settings, run_page = ai_queue.page_settings, ai_queue.run_page
rerun_until = ai_queue.rerun_until

INVOICE_LINES = [
    "ACME Tools GmbH",
    "Invoice number: INV-2026-0042",
    "Issue date: 12 March 2026",
    "Due date: 11/04/2026",
    "Seller: ACME Tools GmbH",
    "VAT ID: DE123456789",
    "Buyer: Widgets Ltd",
    "Subtotal: EUR 1,037.39",
    "VAT (19%): EUR 197.11",
    "Total: EUR 1,234.50",
]


def invoice_pdf(path: Path, lines: list[str] = INVOICE_LINES) -> Path:
    drawing = canvas.Canvas(str(path))
    for row, line in enumerate(lines):
        drawing.drawString(72, 760 - row * 18, line)
    drawing.showPage()
    drawing.save()
    return path


def run(files: list[Path | tuple[str, bytes]], timeout: float = 60, **params) -> dict:
    uploads = [(f.name, f.read_bytes()) if isinstance(f, Path) else f for f in files]
    job_id = jobs.submit("extract_fields", {"schema": "invoice", **params}, files=uploads,
                         user=TESTER)
    return jobs.wait(job_id, timeout=timeout, user=ADMIN)


@pytest.mark.parametrize("provider", ["anthropic", "openai-compatible"])
def test_a_providers_structured_reply_is_validated_into_one_row_per_file(
    ai_worker, fake: FakeAIServer, tmp_path: Path, provider: str
) -> None:
    record = run([invoice_pdf(tmp_path / "march.pdf")], provider=provider)

    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert (result["offline"], result["provider"], result["succeeded"]) == (False, provider, 1)
    [row] = result["rows"]
    assert (row["invoice_number"], row["issue_date"], row["total"]) == (
        "INV-2026-0042", "2026-03-12", 1234.5
    )
    assert row["due_date"] == "2026-04-11"  # the model said 11/04/2026: validated to ISO
    [seen] = fake.requests("anthropic" if provider == "anthropic" else "openai")
    if provider == "anthropic":
        assert seen.body["tool_choice"] == {"type": "tool", "name": "invoice_fields"}
        assert "total" in seen.body["tools"][0]["input_schema"]["properties"]
    else:
        assert seen.body["response_format"]["type"] == "json_schema"
        assert seen.body["response_format"]["json_schema"]["strict"] is True
    assert result["usage"]["requests"] == 1

    table = list(csv.DictReader(io.StringIO(
        jobs.output_bytes(record["id"], "fields.csv", user=ADMIN).decode("utf-8-sig")
    )))
    assert [(r["file"], r["invoice_number"], r["total"]) for r in table] == [
        ("march.pdf", "INV-2026-0042", "1234.5")
    ]
    sheet = load_workbook(io.BytesIO(jobs.output_bytes(record["id"], "fields.xlsx", user=ADMIN)))
    rows = list(sheet["Fields"].iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == "march.pdf" and 1234.5 in rows[1]
    body = json.loads(jobs.output_bytes(record["id"], "fields.json", user=ADMIN))
    assert [r["fields"]["invoice_number"] for r in body["rows"]] == ["INV-2026-0042"]


def test_a_reply_that_does_not_match_the_schema_is_that_files_error(
    ai_worker, fake: FakeAIServer, tmp_path: Path
) -> None:
    fake.structured_reply = {"total": "a great deal"}
    record = run([invoice_pdf(tmp_path / "march.pdf")], provider="anthropic")

    assert record["state"] == "SUCCESS", record["error"]
    [row] = record["result"]["rows"]
    assert row["status"] == "failed"
    assert row["error"].startswith("Anthropic's answer did not match the invoice schema (total:")


def test_offline_rules_find_the_number_date_and_total(ai_worker, fake, tmp_path: Path) -> None:
    record = run([invoice_pdf(tmp_path / "march.pdf")], provider="offline")

    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert result["offline"] is True and result["label"].startswith("Offline extraction")
    [row] = result["rows"]
    assert (row["invoice_number"], row["issue_date"], row["total"]) == (
        "INV-2026-0042", "2026-03-12", 1234.5
    )
    assert (row["subtotal"], row["tax"], row["seller_vat_id"]) == (1037.39, 197.11, "DE123456789")
    assert {"invoice_number", "issue_date", "total"} <= set(row["found_by_rules"].split(", "))
    assert fake.requests() == []  # offline means no provider was asked


def test_a_scanned_invoice_is_ocrd_first(ai_worker, fake, tmp_path: Path) -> None:
    # One line, so the wrap of the scan helper cannot split a label from its value; a slight
    # skew and speckle, as a flatbed scan of a printed invoice has.
    text = "Invoice INV-2026-0042 of 12 March 2026. Total: EUR 1,234.50"
    page = samples.scanned_page(text, skew=1.0, noise=0.005).convert("RGB")
    scan = tmp_path / "scan.pdf"
    page.save(scan, "PDF", resolution=300)
    record = run([scan], provider="offline", timeout=240)

    assert record["state"] == "SUCCESS", record["error"]
    [row] = record["result"]["rows"]
    assert row["status"] == "ok", row["error"]
    assert (row["invoice_number"], row["total"], row["issue_date"]) == (
        "INV-2026-0042", 1234.5, "2026-03-12"
    )
    body = json.loads(jobs.output_bytes(record["id"], "fields.json", user=ADMIN))
    assert body["rows"][0]["ocr"] is True


def test_a_file_that_is_not_a_document_fails_on_its_own_row(
    ai_worker, fake, tmp_path: Path
) -> None:
    junk = ("data.bin", bytes(range(256)) * 8)
    record = run([invoice_pdf(tmp_path / "march.pdf"), junk], provider="offline")

    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert (result["total"], result["succeeded"], result["failed"]) == (2, 1, 1)
    ok, bad = result["rows"]
    assert (ok["file"], ok["status"], ok["invoice_number"]) == ("march.pdf", "ok", "INV-2026-0042")
    assert (bad["file"], bad["status"]) == ("data.bin", "failed")
    assert "is not a document fields can be read from" in bad["error"]


def test_the_fields_tab_runs_an_offline_extraction_and_shows_the_table(
    ai_worker, fake, page_settings, tmp_path: Path
) -> None:
    pdf = invoice_pdf(tmp_path / "march.pdf")
    at = run_page()
    at.selectbox(key="fields-provider").select("offline").run()
    at.file_uploader(key="fields-upload").set_value(
        [(pdf.name, pdf.read_bytes(), "application/pdf")]
    ).run()
    at.button(key="fields-go").click().run()
    rerun_until(at, lambda a: any("Offline extraction" in i.value for i in a.info), timeout=60)

    frame = next(d.value for d in at.dataframe if "invoice_number" in d.value.columns)
    assert frame.loc[0, "invoice_number"] == "INV-2026-0042"
    assert "None" not in frame.astype(str).to_numpy().tolist()[0]
    assert frame.loc[0, "due_date"] == "2026-04-11"


def test_a_cancelled_batch_stops_between_files(ai_worker, fake: FakeAIServer) -> None:
    notes = [(f"note-{n}.txt", f"Invoice number: N-{n}\nTotal: {n}.00\n".encode())
             for n in range(5)]
    with ai_queue.slow_answers(fake, 0.5):
        job_id = jobs.submit("extract_fields", {"provider": "anthropic"}, files=notes,
                             user=TESTER)
        record = ai_queue.cancel_after_requests(job_id, fake, 1)
        answered = len(fake.requests())
        time.sleep(1.5)  # three more answers' time: none may come
    assert len(fake.requests()) == answered < 5
    assert record["state"] == "REVOKED"
    assert record["error"] == f"{answered} of 5 steps done before the cancel."
