"""One entry point for a file: guard it, pick its operations, run them, describe the result.

The Celery tasks and the command line both come through here, so a file is treated the same
way wherever it is processed.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from app.errors import PermanentError
from app.office import guard
from app.office.outputs import OutputFolder, Progress, no_progress

# Imported on first use: a command line run on PDFs never loads python-docx or calamine.
MODULE_NAMES: dict[str, str] = {
    "docx": "app.office.word",
    "xlsx": "app.office.excel",
    "pptx": "app.office.powerpoint",
    "pdf": "app.office.pdf",
    "image": "app.office.image",
}


def module_for(family: str) -> ModuleType:
    """The operations module of a family ('docx', 'xlsx', 'pptx', 'pdf', 'image')."""
    return importlib.import_module(MODULE_NAMES[family])


def operations_of(family: str) -> dict[str, str]:
    """Every operation a family offers: name -> what it does."""
    return dict(module_for(family).OPERATIONS)


def single_file_operations(family: str) -> list[str]:
    module = module_for(family)
    multi = getattr(module, "MULTI_FILE_OPERATIONS", ())
    return [op for op in module.OPERATIONS if op not in multi]


def choose_operations(
    family: str, requested: Iterable[str] | None, strict: bool = True
) -> list[str]:
    """The operations to run on one file of `family`, in the order asked, each once.

    Nothing asked means the family's defaults. `strict` refuses an operation the family does
    not offer; otherwise those are left out (a batch of mixed files shares one list).
    """
    module = module_for(family)
    if not requested:
        return list(module.DEFAULT_OPERATIONS)
    wanted = list(dict.fromkeys(requested))
    offered = single_file_operations(family)
    unknown = [op for op in wanted if op not in module.OPERATIONS]
    if strict and unknown:
        raise PermanentError(
            f"A {guard.label(family)} cannot do {', '.join(unknown)}. "
            f"Choose from: {', '.join(module.OPERATIONS)}."
        )
    chosen = [op for op in wanted if op in offered]
    if not chosen and not strict:
        raise PermanentError(
            f"None of the chosen operations ({', '.join(wanted)}) apply to a {guard.label(family)}."
        )
    return chosen


def process_file(
    path: Path,
    out_dir: Path,
    *,
    expected: str | None = None,
    operations: Iterable[str] | None = None,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
    name: str | None = None,
    strict: bool = True,
) -> dict[str, Any]:
    """Guard the file, run its operations and return a small JSON-able description.

    Raises PermanentError with a sentence for the user when the file is refused.
    """
    started = time.perf_counter()
    family = guard.check_file(Path(path), expected, name)
    chosen = choose_operations(family, operations, strict)
    out = OutputFolder(out_dir)
    results = module_for(family).process(Path(path), chosen, out, options or {}, progress)
    return {
        "file": name or Path(path).name,
        "type": family,
        "operations": results,
        "outputs": out.written,
        "warnings": collect_warnings(results),
        "seconds": round(time.perf_counter() - started, 3),
    }


def merge_pdfs(
    paths: list[Path],
    out_dir: Path,
    *,
    names: list[str] | None = None,
    password: str | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Guard every file as a PDF, then merge them in the order given."""
    labels = names or [Path(p).name for p in paths]
    for path, label in zip(paths, labels):
        try:
            guard.check_file(Path(path), "pdf", label)
        except PermanentError as exc:
            raise PermanentError(f"{label}: {exc}") from None
    out = OutputFolder(out_dir)
    summary = module_for("pdf").merge([Path(p) for p in paths], out, password, progress, labels)
    return {"operation": "merge", "type": "pdf", "merge": summary, "outputs": out.written}


def collect_warnings(results: dict[str, Any]) -> list[str]:
    """Warnings and notes from every operation, each once, for showing at the top."""
    found: list[str] = []
    for summary in results.values():
        if not isinstance(summary, dict):
            continue
        for key in ("warnings", "notes"):
            for message in summary.get(key) or []:
                if message not in found:
                    found.append(message)
        for sheet in summary.get("sheets") or []:
            for message in sheet.get("notes") or []:
                if message not in found:
                    found.append(message)
    return found
