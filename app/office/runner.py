"""One entry point for a file: guard it, pick its operations, run them, describe the result.

The Celery tasks and the command line both come through here, so a file is treated the same
way wherever it is processed.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from app.errors import PermanentError
from app.office import guard, libreoffice
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of

# Imported on first use: a command line run on PDFs never loads python-docx or calamine.
MODULE_NAMES: dict[str, str] = {
    "docx": "app.office.word",
    "xlsx": "app.office.excel",
    "pptx": "app.office.powerpoint",
    "pdf": "app.office.pdf",
    "image": "app.office.image",
}


# Operations that take every file of the job together rather than one file at a time.
MULTI_FILE = ("merge", "images_to_pdf")


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

    A legacy (.doc, .xls, .ppt) or OpenDocument file is first converted to its OOXML form by
    LibreOffice, so every operation works on it. Raises PermanentError with a sentence for
    the user when the file is refused.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nexus-office-") as work:
        path, converted = _readable_form(Path(path), expected, name, Path(work))
        family = guard.check_file(path, expected, name)
        chosen = choose_operations(family, operations, strict)
        out = OutputFolder(out_dir)
        module_ops = [op for op in chosen if op != "to_pdf"]
        results = module_for(family).process(path, module_ops, out, options or {}, progress)
        if "to_pdf" in chosen:
            progress(len(module_ops), len(chosen), "Converting to PDF with LibreOffice")
            results["to_pdf"] = to_pdf(path, out)
    summary = {
        "file": name or Path(path).name,
        "type": family,
        "operations": results,
        "outputs": out.written,
        "warnings": collect_warnings(results),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if converted:
        summary["converted_from"] = converted
    return summary


def _readable_form(
    path: Path, expected: str | None, name: str | None, work: Path
) -> tuple[Path, str | None]:
    """(the file to read, what it was converted from or None): OOXML for legacy formats."""
    family = guard.legacy_family(path)
    if family is None or expected not in (None, family):
        return path, None
    guard.check_legacy(path, family)
    source = work / f"source{Path(name or path.name).suffix.lower()}"
    shutil.copyfile(path, source)  # a copy: LibreOffice names its output after a link's target
    target = work / f"{stem_of(name or path)}.{family}"
    libreoffice.convert(source, target)
    return target, Path(name or path.name).suffix.lower().lstrip(".") or "legacy"


def to_pdf(path: Path, out: OutputFolder) -> dict[str, Any]:
    """The document as a PDF, laid out by LibreOffice; its page count and how it was made."""
    from app.office import pdf  # pypdfium2 only when a PDF is made

    target = out.path(f"{stem_of(path)}.pdf")
    route = libreoffice.convert(path, target)
    with pdf.open_document(target) as document:
        pages = len(document)
    return {"name": target.name, "pages": pages, "bytes": target.stat().st_size,
            "converter": route}


def process_files(
    paths: list[Path],
    out_dir: Path,
    *,
    family: str,
    names: list[str] | None = None,
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Process files of one family in order, then merge them when "merge" is asked.

    Returns {"files": [one process_file result each], "merge"?: ..., "warnings": [...]}. With
    several files a refusal names the file it is about.
    """
    if not paths:
        raise PermanentError("Choose at least one file.")
    labels = names or [Path(p).name for p in paths]
    options = {**(options or {}), **({"password": password} if password else {})}
    together = [op for op in operations or [] if op in MULTI_FILE]
    per_file = [op for op in operations or [] if op not in MULTI_FILE] or None
    results = []
    if per_file or not together:
        for index, (path, label) in enumerate(zip(paths, labels)):
            step = file_progress(progress, index, len(paths), label)
            results.append(_one_of_many(path, out_dir, family, per_file, options, step, label,
                                        len(paths)))
    summary: dict[str, Any] = {"files": results}
    if "merge" in together:
        summary["merge"] = merge_pdfs(paths, out_dir, names=labels, password=password,
                                      progress=progress)
    if "images_to_pdf" in together:
        summary["images_to_pdf"] = images_to_pdf(paths, out_dir, names=labels,
                                                 progress=progress)
    summary["warnings"] = [w for r in results for w in r.get("warnings", [])]
    progress(len(paths), len(paths), "Done")
    return summary


def _one_of_many(
    path: Path, out_dir: Path, family: str, operations: list[str] | None,
    options: dict[str, Any], progress: Progress, name: str, count: int,
) -> dict[str, Any]:
    try:
        return process_file(path, out_dir, expected=family, operations=operations,
                            options=options, progress=progress, name=name)
    except PermanentError as exc:
        if count == 1:
            raise
        raise PermanentError(f"{name}: {exc}") from None


def file_progress(progress: Progress, index: int, count: int, name: str) -> Progress:
    """Maps one file's (current, total) onto the whole run: each file is 100 steps."""

    def report(current: int, total: int, message: str) -> None:
        step = int(100 * current / total) if total else 0
        label = f"{name}: {message}" if count > 1 else message
        progress(index * 100 + min(step, 99), count * 100, label)

    return report


def _guard_all(paths: list[Path], family: str, names: list[str] | None) -> list[str]:
    """Guard every file as `family` before any is opened; their labels, in order."""
    labels = names or [Path(p).name for p in paths]
    for path, label in zip(paths, labels):
        try:
            guard.check_file(Path(path), family, label)
        except PermanentError as exc:
            raise PermanentError(f"{label}: {exc}") from None
    return labels


def merge_pdfs(
    paths: list[Path],
    out_dir: Path,
    *,
    names: list[str] | None = None,
    password: str | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Guard every file as a PDF, then merge them in the order given."""
    labels = _guard_all(paths, "pdf", names)
    out = OutputFolder(out_dir)
    summary = module_for("pdf").merge([Path(p) for p in paths], out, password, progress, labels)
    return {"operation": "merge", "type": "pdf", "merge": summary, "outputs": out.written}


def images_to_pdf(
    paths: list[Path], out_dir: Path, *, names: list[str] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Guard every file as an image, then make them the pages of one PDF."""
    from app.office import pdf_tools

    labels = _guard_all(paths, "image", names)
    out = OutputFolder(out_dir)
    summary = pdf_tools.images_to_pdf([Path(p) for p in paths], out, labels, progress)
    return {"operation": "images_to_pdf", "type": "image", "images_to_pdf": summary,
            "outputs": out.written}


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
