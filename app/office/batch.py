"""A batch of mixed files: which family each is, what each child runs, how the batch ended.

The files queue fans a batch out as one child job per file; this module holds the decisions,
so the task only publishes the children and collects their outcomes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import filetypes
from app.office import guard, runner

FAMILIES = tuple(runner.MODULE_NAMES)


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


def child_outcome(state: str, result: Any) -> dict[str, Any]:
    """A finished child's line in the batch summary, from its final state and result."""
    if state == "SUCCESS":
        summary = ((result or {}).get("files") or [{}])[0]
        return {
            "ok": True,
            "error": None,
            "operations": summary.get("operations", {}),
            "warnings": summary.get("warnings", []),
        }
    message = str(result) if isinstance(result, Exception) else "The file could not be processed."
    return {"ok": False, "error": message}


def summary(plan: list[dict]) -> dict[str, Any]:
    """The batch's result: every file's entry and how many succeeded and failed."""
    succeeded = sum(1 for entry in plan if entry.get("ok"))
    return {"files": plan, "succeeded": succeeded, "failed": len(plan) - succeeded}
