"""What an AI job returns: its answer and usage, small enough for the job record.

A job record keeps at most 64 KB of result; a longer answer is cut in the record and kept in
full in an output file, and a note says where.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.ai.service import AIResult

INLINE_TEXT = 20_000


def job_result(
    result: AIResult, output_path: Callable[[str], Path], output_name: str | None = None
) -> dict[str, Any]:
    """The job's result: the answer (in full in the output `output_name` when given) and usage."""
    summary = result.as_dict()
    if output_name and result.text:
        path = output_path(output_name)
        path.write_text(result.text, encoding="utf-8")
        summary["output"] = path.name
    if len(result.text) > INLINE_TEXT:
        summary["text"] = result.text[:INLINE_TEXT]
        summary["text_in_record"] = "partial"
        summary["notes"] = [
            *result.notes,
            f"The answer is {len(result.text):,} characters; the page shows the first "
            f"{INLINE_TEXT:,} and the output file {summary.get('output', '')} holds all of it.",
        ]
    return summary


def fits_in_record(text: str) -> bool:
    """True when the record can hold the whole text, so no output file is needed."""
    return len(text) <= INLINE_TEXT
