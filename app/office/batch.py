"""A batch of mixed files: which family each is, what each child runs, how the batch ended.

The files queue gives every file of a batch a child job of its own, and runs those jobs in
chunks: many small files per Celery task, a large file alone. This module holds the decisions
(families, per-file parameters, chunk sizes, the summary), so the tasks only publish the
chunks and collect the outcomes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import filetypes
from app.office import guard, runner

FAMILIES = tuple(runner.MODULE_NAMES)

# Expected seconds of one file, by family: (fixed, per megabyte). Rough figures from the bench
# on a 2-core machine; they only need to tell a thumbnail from a 300-page PDF. A PDF's cost
# follows its pages, and its size stands in for the page count (about 100 KB a page).
COST_MODEL: dict[str, tuple[float, float]] = {
    "image": (0.01, 0.05),
    "pdf": (0.02, 0.5),
    "docx": (0.03, 0.3),
    "xlsx": (0.05, 1.0),
    "pptx": (0.05, 0.3),
}
# A chunk holds about this many expected seconds of work: enough to make the per-task cost
# (a message, a record, a chord count) small beside it, short enough that a cancel, a
# redelivery or the time limit costs little.
CHUNK_BUDGET_SECONDS = 2.0
MAX_FILES_PER_CHUNK = 50
# A batch is cut into at least this many chunks when it has the files for it, so every
# worker process gets a share even when the whole batch fits in one budget.
MIN_CHUNKS = 4
UNFINISHED = (
    "The worker running this file stopped before the file was done. Retry it to run it again."
)
CANCELLED_WITH_BATCH = "Cancelled with its batch before this file ran."


def unsupported(kind: str) -> str:
    """The sentence for a file no operation module reads."""
    return (
        f"This file type is not supported ({filetypes.describe(kind or 'unknown')}). "
        "Upload a Word, Excel, PowerPoint, PDF or image file."
    )


def plan_entry(path: Path, name: str, declared: str = "unknown") -> tuple[str | None, dict]:
    """(family or None, the batch plan's entry) for one file, judged by its bytes."""
    family = guard.family_of_file(path, name)
    if family is None:
        return None, {"file": name, "ok": False, "error": unsupported(declared)}
    return family, {"file": name, "type": family}


def child_options(family: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """One child's options: its type's entry when options are given per type, else all."""
    if options and any(key in FAMILIES for key in options):
        return options.get(family) or {}
    return options or {}


def child_operations(family: str, operations: Any) -> list[str] | None:
    """The operations one child runs: its type's entry, or those of a shared list it offers."""
    if isinstance(operations, dict):
        return operations.get(family) or None
    if not operations:
        return None
    offered = runner.single_file_operations(family)
    return [op for op in operations if op in offered] or None


def child_id(batch_id: str, index: int) -> str:
    """The job id of the batch's file at `index`: the same on every run of the batch task.

    A batch task redelivered after a worker loss then finds its children's records instead of
    making a second set.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nexus-batch:{batch_id}/{index}"))


def chunk_id(batch_id: str, index: int) -> str:
    """The Celery task id of the batch's chunk at `index`, stable across reruns like child_id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nexus-batch:{batch_id}/chunk/{index}"))


def expected_seconds(family: str, size: int | None) -> float:
    """About how long one file of `family` and `size` bytes takes; unknown sizes cost the fixed."""
    fixed, per_mb = COST_MODEL.get(family, (0.05, 0.5))
    return fixed + per_mb * max(0, size or 0) / 2**20


def plan_chunks(
    costs: Sequence[float],
    *,
    budget: float = CHUNK_BUDGET_SECONDS,
    max_files: int = MAX_FILES_PER_CHUNK,
    min_chunks: int = MIN_CHUNKS,
) -> list[list[int]]:
    """Group files (by index, in order) into chunks of at most `budget` expected seconds each.

    A file expected to take the whole budget or more runs alone; small ones share a chunk up
    to `max_files`. The budget shrinks to a `min_chunks`th of the total, so a batch that
    could run as one chunk still spreads over the workers. Costliest chunks come first: a
    long file starts early instead of ending the batch alone.
    """
    if max_files < 1 or budget <= 0:
        raise ValueError("A chunk needs a positive budget and room for at least one file.")
    share = min(budget, sum(costs) / max(1, min_chunks))
    chunks: list[list[int]] = []
    current: list[int] = []
    spent = 0.0
    for index, cost in enumerate(costs):
        # The epsilon keeps equal shares of the total from splitting on a rounding error.
        if current and (spent + cost > share + 1e-9 or len(current) >= max_files):
            chunks.append(current)
            current, spent = [], 0.0
        current.append(index)
        spent += cost
    if current:
        chunks.append(current)
    total = [sum(costs[i] for i in chunk) for chunk in chunks]
    order = sorted(range(len(chunks)), key=lambda n: -total[n])
    return [chunks[n] for n in order]


def child_outcome(state: str | None, result: Any, error: str | None = None) -> dict[str, Any]:
    """A finished child's line in the batch summary, from its record's state, result and error."""
    if state == "SUCCESS":
        summary = ((result or {}).get("files") or [{}])[0]
        return {
            "ok": True,
            "error": None,
            "operations": summary.get("operations", {}),
            "warnings": summary.get("warnings", []),
        }
    return {"ok": False, "error": error or "The file could not be processed."}


def summary(plan: list[dict]) -> dict[str, Any]:
    """The batch's result: every file's entry and how many succeeded and failed."""
    succeeded = sum(1 for entry in plan if entry.get("ok"))
    return {"files": plan, "succeeded": succeeded, "failed": len(plan) - succeeded}
