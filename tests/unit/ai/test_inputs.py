"""Where an AI job's text comes from, and what its result keeps, without Redis or Celery."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ai import inputs
from app.ai.batch import BatchItem, summary
from app.ai.results import INLINE_TEXT, job_result
from app.ai.service import AIResult
from app.ai.types import Usage
from app.errors import PermanentError, TransientError


def _no_job(job_id: str) -> None:
    raise AssertionError("no job should be read")


def test_pasted_text_wins_then_the_document(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("From the file.", encoding="utf-8")
    opened: list[dict] = []

    def open_file(ref: dict) -> Path:
        opened.append(ref)
        return note

    common = {"owner": "ann", "open_file": open_file, "read_job": _no_job}
    assert inputs.input_text("Pasted.", {"name": "note.txt"}, None, None, **common) == "Pasted."
    assert opened == []
    assert inputs.input_text("  ", {"name": "note.txt"}, None, None, **common) == "From the file."
    with pytest.raises(PermanentError, match="Paste some text"):
        inputs.input_text(None, None, None, None, **common)


def test_a_binary_file_is_not_text(tmp_path: Path) -> None:
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(PermanentError, match=r"image\.png is not a text file"):
        inputs.read_text_file(blob, "image.png")


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (None, PermanentError),
        ({"owner": "bo", "state": "SUCCESS"}, PermanentError),  # someone else's: as missing
        ({"owner": "ann", "state": "FAILURE"}, PermanentError),
        ({"owner": "ann", "state": "STARTED"}, TransientError),
    ],
)
def test_a_source_job_must_be_mine_and_finished(record: dict | None, error: type) -> None:
    with pytest.raises(error):
        inputs.source_job_text("0" * 32, None, owner="ann", read_job=lambda _: record)


def test_documents_that_need_extraction() -> None:
    assert inputs.needs_extraction({"type": "docx"})
    assert not inputs.needs_extraction({"type": "text"})
    assert not inputs.needs_extraction(None)


def test_a_long_answer_is_cut_in_the_record_and_kept_whole_in_its_file(tmp_path: Path) -> None:
    text = "x" * (INLINE_TEXT + 10)
    result = AIResult("complete", text, Usage("anthropic", "m", 1, 5, 5))
    summary_ = job_result(result, lambda name: tmp_path / name, "answer.md")
    assert summary_["output"] == "answer.md"
    assert (tmp_path / "answer.md").read_text(encoding="utf-8") == text
    assert len(summary_["text"]) == INLINE_TEXT and summary_["text_in_record"] == "partial"
    assert "answer.md holds all of it" in summary_["notes"][-1]


def test_a_batch_summary_counts_and_shortens() -> None:
    items = [BatchItem(n, f"prompt {n}", ok=n != 1, answer="a" * 600) for n in range(60)]
    result = summary(items)
    assert (result["total"], result["succeeded"], result["failed"]) == (60, 59, 1)
    assert len(result["items"]) == 50 and len(result["items"][0]["answer"]) == 500
    assert result["notes"] == [
        "Only the first 50 of 60 items are shown; the CSV and XLSX hold all."
    ]
