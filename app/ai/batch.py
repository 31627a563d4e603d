"""Batches of prompts: reading them from CSV, running them in parallel with per-item results,
and writing the results as CSV and XLSX.

One item failing never fails the others: its error is its result. A transient failure (a 429, an
overloaded provider) is retried a few times for that item alone, so finished items are never
paid for twice.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from app.ai.types import Usage
from app.errors import JobCancelled, JobError, PermanentError, TransientError
from app.reports.cells import csv_value, excel_value

if TYPE_CHECKING:
    from app.ai.service import AIService

MAX_ITEMS = 200
MAX_CONCURRENCY = 8
ITEM_ATTEMPTS = 3
MAX_ITEM_WAIT = 60.0
PROMPT_COLUMNS = ("prompt", "prompts", "question", "text", "input")
RESULT_COLUMNS = (
    "id",
    "prompt",
    "status",
    "answer",
    "error",
    "attempts",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
NOT_RUN = "Not run: the job was cancelled."
SHOWN_ITEMS = 50


@dataclass
class BatchItem:
    """One prompt of a batch and, once run, its answer or its error."""

    index: int
    prompt: str
    id: str = ""
    system: str | None = None
    ok: bool | None = None
    answer: str = ""
    error: str = ""
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id or str(self.index + 1),
            "prompt": self.prompt,
            "status": "ok" if self.ok else "not run" if self.error == NOT_RUN else "failed",
            "answer": self.answer,
            "error": self.error,
            "attempts": self.attempts,
            "model": self.usage.model,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            # Fixed decimals: a float this small would print as 7.3e-05.
            "cost_usd": "" if self.usage.cost_usd is None else f"{self.usage.cost_usd:.6f}",
        }


def items_from_prompts(prompts: Iterable[str]) -> list[BatchItem]:
    """Batch items from a plain list; blank prompts are skipped."""
    items = [BatchItem(i, p.strip()) for i, p in enumerate(p for p in prompts if p and p.strip())]
    return _checked(items)


def items_from_csv(data: bytes) -> list[BatchItem]:
    """Batch items from a CSV: the "prompt" column (or the first one), with optional "id" and
    "system" columns."""
    text = _decode(data)
    rows = list(csv.reader(io.StringIO(text), dialect=_dialect(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise PermanentError("The CSV file has no rows.")
    header = [cell.strip().lower() for cell in rows[0]]
    prompt_col = next((header.index(c) for c in PROMPT_COLUMNS if c in header), None)
    if prompt_col is None:
        prompt_col, body = 0, rows  # no header: every row is a prompt in the first column
        id_col = system_col = None
    else:
        body = rows[1:]
        id_col = header.index("id") if "id" in header else None
        system_col = header.index("system") if "system" in header else None
    items = []
    for row in body:
        prompt = _cell(row, prompt_col)
        if prompt:
            items.append(
                BatchItem(len(items), prompt, _cell(row, id_col), _cell(row, system_col) or None)
            )
    return _checked(items)


def run_batch(
    items: list[BatchItem],
    answer: Callable[[BatchItem], tuple[str, Usage]],
    *,
    concurrency: int = 4,
    on_done: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancelled: Callable[[], bool] | None = None,
) -> list[BatchItem]:
    """Run every item through `answer` on a few threads; each item ends ok or with its error.

    `on_done(done, total)` runs on the calling thread after each item, so it may raise
    (JobCancelled) to stop the batch: items not yet started are then cancelled. Once
    `cancelled()` is true, no item makes another call (those not run say so) and JobCancelled
    is raised after the calls in flight have ended.
    """
    workers = max(1, min(concurrency, MAX_CONCURRENCY, len(items) or 1))
    stop = cancelled or (lambda: False)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ai-batch") as pool:
        pending: set[Future] = {
            pool.submit(_run_item, item, answer, sleep, stop) for item in items
        }
        done = 0
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                done += len(finished)
                if on_done:
                    on_done(done, len(items))
                if stop():
                    raise JobCancelled("The job was cancelled.")
        except JobCancelled:
            for future in pending:
                future.cancel()
            raise
    return items


def total_usage(items: Iterable[BatchItem]) -> Usage:
    usage = Usage()
    for item in items:
        if item.usage.requests:
            usage.add(item.usage)
    return usage


def completions(
    ai: AIService, system: str | None = None
) -> Callable[[BatchItem], tuple[str, Usage]]:
    """The `answer` for run_batch: one completion per item, its own system prompt first."""

    def answer(item: BatchItem) -> tuple[str, Usage]:
        result = ai.complete(item.prompt, item.system or system)
        return result.text, result.usage

    return answer


def ended(items: Iterable[BatchItem]) -> int:
    """How many items have ended, answered or failed."""
    return sum(1 for item in items if item.ok is not None)


def summary(items: list[BatchItem]) -> dict[str, Any]:
    """A batch job's result: counts, usage and the first items, shortened for the record."""
    failed = [i for i in items if not i.ok]
    usage = total_usage(items)
    return {
        "operation": "batch",
        "total": len(items),
        "succeeded": len(items) - len(failed),
        "failed": len(failed),
        "provider": usage.provider,
        "model": usage.model,
        "usage": usage.as_dict(),
        "items": [
            {**i.row(), "answer": i.answer[:500], "prompt": i.prompt[:200]}
            for i in items[:SHOWN_ITEMS]
        ],
        "notes": [
            f"Only the first {SHOWN_ITEMS} of {len(items)} items are shown; "
            "the CSV and XLSX hold all."
        ]
        if len(items) > SHOWN_ITEMS
        else [],
    }


def write_csv(items: list[BatchItem], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for item in items:
            writer.writerow({k: csv_value(v) for k, v in item.row().items()})


def write_xlsx(items: list[BatchItem], path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append(list(RESULT_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for item in items:
        # A model's answer is untrusted text: never a formula, whatever it starts with.
        sheet.append([excel_value(v) for v in item.row().values()])
    for column, width in zip("ABCDEFGHIJ", (8, 50, 10, 80, 40, 9, 20, 14, 14, 12)):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=2, min_col=2, max_col=5):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    book.save(path)


def _run_item(
    item: BatchItem,
    answer: Callable[[BatchItem], tuple[str, Usage]],
    sleep: Callable,
    cancelled: Callable[[], bool],
) -> None:
    for attempt in range(1, ITEM_ATTEMPTS + 1):
        if cancelled():
            if attempt == 1:  # a retry cut short keeps the error of its last try
                item.error = NOT_RUN
            return
        item.attempts = attempt
        try:
            item.answer, item.usage = answer(item)
            item.ok, item.error = True, ""
            return
        except JobCancelled:  # the limiter's wait noticed the cancel: no call was made
            item.ok, item.error = None, NOT_RUN
            return
        except TransientError as exc:
            item.ok, item.error = False, str(exc)
            if attempt < ITEM_ATTEMPTS:
                sleep(min(MAX_ITEM_WAIT, exc.retry_after or 2.0 * attempt))
        except JobError as exc:
            item.ok, item.error = False, str(exc)
            return
        except Exception as exc:  # one item's bug must not sink the batch
            item.ok, item.error = False, f"Unexpected error ({type(exc).__name__}): {exc}"
            return


def _checked(items: list[BatchItem]) -> list[BatchItem]:
    if not items:
        raise PermanentError("The batch has no prompts.")
    if len(items) > MAX_ITEMS:
        raise PermanentError(
            f"The batch has {len(items)} prompts; split it into batches of at most {MAX_ITEMS}."
        )
    return items


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PermanentError("The CSV file is not text in UTF-8 or Windows encoding.")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()

