"""Batches: prompts from CSV, parallel items that succeed or fail alone, CSV and XLSX results."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.ai import batch
from app.ai.service import build_service
from app.errors import PermanentError, TransientError
from app.settings import Settings
from tests.support.fake_ai import Failure, FakeAIServer


def test_csv_with_a_prompt_column_id_and_system() -> None:
    data = b"id;Prompt;system\nq1;What is VAT?;Be brief\nq2;Define EBITDA;\n;;\n"
    items = batch.items_from_csv(data)
    assert [(i.id, i.prompt, i.system) for i in items] == [
        ("q1", "What is VAT?", "Be brief"),
        ("q2", "Define EBITDA", None),
    ]


def test_csv_without_a_header_uses_the_first_column() -> None:
    items = batch.items_from_csv(b'Summarise Q3\n"List risks, briefly"\n')
    assert [i.prompt for i in items] == ["Summarise Q3", "List risks, briefly"]


def test_empty_or_huge_batches_are_refused() -> None:
    with pytest.raises(PermanentError, match="no prompts"):
        batch.items_from_prompts(["", "  "])
    with pytest.raises(PermanentError, match="at most"):
        batch.items_from_prompts([f"p{i}" for i in range(batch.MAX_ITEMS + 1)])


def test_one_failing_item_does_not_fail_the_others(
    fake: FakeAIServer, anthropic_settings: Settings, tmp_path: Path
) -> None:
    fake.fail_on_word["BROKEN"] = Failure(400, message="This prompt is not allowed.")
    ai = build_service(settings=anthropic_settings)
    items = batch.items_from_prompts([f"Prompt {n}" for n in range(5)] + ["BROKEN prompt"])
    progress: list[tuple[int, int]] = []

    def answer(item: batch.BatchItem):
        result = ai.complete(item.prompt)
        return result.text, result.usage

    batch.run_batch(items, answer, concurrency=3, on_done=lambda d, t: progress.append((d, t)))

    assert [i.ok for i in items] == [True] * 5 + [False]
    assert items[0].answer == "Answer #1 to: Prompt 0"
    assert "This prompt is not allowed." in items[-1].error
    assert items[-1].attempts == 1  # a permanent error is not retried
    assert progress[-1] == (6, 6)
    assert batch.total_usage(items).requests == 5

    batch.write_csv(items, tmp_path / "r.csv")
    batch.write_xlsx(items, tmp_path / "r.xlsx")
    with open(tmp_path / "r.csv", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["failed"]
    sheet = load_workbook(tmp_path / "r.xlsx").active
    assert [c.value for c in sheet[1]][:4] == ["id", "prompt", "status", "answer"]
    assert sheet.cell(row=7, column=3).value == "failed"


def test_a_transient_item_is_retried_alone() -> None:
    calls = {"n": 0}
    slept: list[float] = []

    def flaky(item: batch.BatchItem):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("busy", retry_after=3)
        return "done", batch.Usage(requests=1)

    [item] = batch.run_batch(batch.items_from_prompts(["x"]), flaky, sleep=slept.append)
    assert item.ok and item.attempts == 2 and slept == [3]


def test_answers_that_look_like_formulas_stay_text(tmp_path: Path) -> None:
    [item] = batch.items_from_prompts(["x"])
    item.ok, item.answer = True, '=HYPERLINK("http://evil")'
    batch.write_xlsx([item], tmp_path / "r.xlsx")
    batch.write_csv([item], tmp_path / "r.csv")
    cell = load_workbook(tmp_path / "r.xlsx").active.cell(row=2, column=4)
    assert cell.data_type == "s" and cell.value.startswith("'=HYPERLINK")  # the one neutraliser
    assert "'=HYPERLINK" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
