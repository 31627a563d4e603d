"""Files queue: thin adapters from Celery to the pure code in app.office.

Each task takes storage refs, runs `runner.process_file` on each file with the job's output
folder and a progress callback, and returns a small summary. A refused file raises
PermanentError, so the job fails at once with the sentence and is never retried.

`batch_process_files` fans out one child job per file as a Celery chord and replaces itself
with it: the chord's callback runs under the batch's own job id, so the batch job ends when
its last child does, with a per-file result, whether the children succeeded or failed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import chord

from app import filetypes, storage, vault
from app.connection import get_registry
from app.errors import PermanentError
from app.office import guard, runner
from app.office.outputs import fit_summary
from app.tasks.base import JobTask
from config.celery_config import celery_app

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 48_000
BATCH_KIND = "batch_process_files"
BATCH_COUNTER_TTL = 86_400


def run_files(
    task: JobTask,
    files: list[dict],
    family: str,
    operations: list[str] | None,
    options: dict[str, Any] | None,
    password: str | None,
) -> dict[str, Any]:
    """Process every file of one family in order, then merge PDFs if asked."""
    if not files:
        raise PermanentError("Choose at least one file.")
    options = {**(options or {}), **({"password": password} if password else {})}
    merging = bool(operations) and "merge" in operations
    per_file = [op for op in operations or [] if op != "merge"]
    out_dir = storage.outputs_dir(task.job_id)
    results = []
    if per_file or not merging:
        for index, ref in enumerate(files):
            results.append(
                _run_one(task, ref, index, len(files), family, per_file or None, options, out_dir)
            )
    summary: dict[str, Any] = {"files": results}
    if merging:
        summary["merge"] = _merge(task, files, out_dir, password)
    summary["warnings"] = [w for r in results for w in r.get("warnings", [])]
    task.progress(len(files), len(files), "Done")
    return fit_summary(summary, MAX_RESULT_CHARS)


def _run_one(
    task: JobTask,
    ref: dict,
    index: int,
    count: int,
    family: str,
    operations: list[str] | None,
    options: dict[str, Any],
    out_dir: Path,
) -> dict[str, Any]:
    name = ref.get("name") or Path(ref["path"]).name
    path = task.input_path(ref)
    try:
        return runner.process_file(
            path,
            out_dir,
            expected=family,
            operations=operations,
            options=options,
            progress=_file_progress(task, index, count, name),
            name=name,
        )
    except PermanentError as exc:
        if count == 1:
            raise
        raise PermanentError(f"{name}: {exc}") from None


def _file_progress(
    task: JobTask, index: int, count: int, name: str
) -> Callable[[int, int, str], None]:
    """Maps one file's (current, total) onto the whole job: each file is 100 steps."""

    def report(current: int, total: int, message: str) -> None:
        step = int(100 * current / total) if total else 0
        label = f"{name}: {message}" if count > 1 else message
        task.progress(index * 100 + min(step, 99), count * 100, label)

    return report


def _merge(task: JobTask, files: list[dict], out_dir: Path, password: str | None) -> dict[str, Any]:
    names = [ref.get("name") or Path(ref["path"]).name for ref in files]
    paths = [task.input_path(ref) for ref in files]
    return runner.merge_pdfs(
        paths,
        out_dir,
        names=names,
        password=password,
        progress=lambda current, total, message: task.progress(current, total, message),
    )


def _after_child(task: JobTask) -> None:
    """Count this job as done on the batch it belongs to: one atomic counter, O(1) per file.

    Progress is informational: a Redis hiccup here is logged, never allowed to fail the file.
    """
    parent = task.request.parent_id
    if not parent or task.request.called_directly:
        return
    try:
        _count_on_batch(parent)
    except redis.RedisError:
        log.warning("Could not update the progress of batch %s", parent, exc_info=True)


def _count_on_batch(batch_id: str) -> None:
    registry = get_registry()
    kind, progress = registry.redis.hmget(registry.job_key(batch_id), "kind", "progress")
    if kind != BATCH_KIND:
        return
    total = json.loads(progress or "{}").get("total") or 0
    counter = f"{registry.prefix}:batch-done:{batch_id}"
    with registry.redis.pipeline() as pipe:
        pipe.incr(counter)
        pipe.expire(counter, BATCH_COUNTER_TTL)
        done = min(pipe.execute()[0], total)
    registry.set_progress(batch_id, done, total, f"{done} of {total} files done")


def _process(
    task: JobTask,
    family: str,
    files: list[dict],
    operations: list[str] | None,
    options: dict[str, Any] | None,
    password: str | None,
) -> dict[str, Any]:
    try:
        return run_files(task, files, family, operations, options, password)
    finally:
        _after_child(task)


@celery_app.task(bind=True, base=JobTask)
def process_word_document(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Word: extract_text, count_stats, extract_images, to_markdown, metadata."""
    return _process(self, "docx", files, operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_excel_file(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Excel: analyze, convert (CSV and JSON), calculate (totals, optional group_by)."""
    return _process(self, "xlsx", files, operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_powerpoint(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """PowerPoint: extract_text, structure, extract_images, outline."""
    return _process(self, "pptx", files, operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_pdf(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """PDF: extract_text, metadata, thumbnails, split, rotate, and merge of all files."""
    return _process(self, "pdf", files, operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_image(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Images: info, thumbnail, resize, convert, strip_metadata."""
    return _process(self, "image", files, operations, options, password)


TASKS_BY_FAMILY = {
    "docx": process_word_document,
    "xlsx": process_excel_file,
    "pptx": process_powerpoint,
    "pdf": process_pdf,
    "image": process_image,
}


# batches --------------------------------------------------------------------------------------


@celery_app.task(bind=True, base=JobTask)
def batch_process_files(
    self: JobTask,
    files: list[dict],
    operations: dict[str, list[str]] | list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Many files of any type in parallel, one child job each; one bad file fails alone.

    `operations` is a list shared by all files (each runs what its type offers) or a dict
    from type ('docx', 'xlsx', 'pptx', 'pdf', 'image') to a list; `options` likewise is one
    dict for all or a dict per type.
    """
    if not files:
        raise PermanentError("Choose at least one file.")
    children, plan = [], []
    for ref in files:
        name = ref.get("name") or Path(ref["path"]).name
        family = guard.family_of_file(self.input_path(ref), name)
        if family is None:
            plan.append({"file": name, "ok": False, "error": _unsupported(ref)})
            continue
        child_id = str(uuid.uuid4())
        plan.append({"file": name, "type": family, "job_id": child_id})
        children.append(
            TASKS_BY_FAMILY[family]
            .si(
                files=[ref],
                operations=_batch_operations(family, operations),
                options=_batch_options(family, options),
                # Sealed for the child: its message must not carry the password either.
                password=vault.seal(child_id, "password", password) if password else None,
            )
            .set(task_id=child_id)
        )
    self.progress(0, len(children), f"Processing {len(children)} file(s) in parallel")
    if not children:
        return finish(plan)
    # The callback and the error callback both run as this job: whichever way the children
    # end, the batch job records the per-file outcome. The callback is immutable so the
    # children's results are not copied into its message; it reads them from the backend.
    callback = finish_file_batch.si(plan=plan).set(task_id=self.job_id)
    callback.link_error(finish_file_batch.s(plan=plan).set(task_id=self.job_id))
    return self.replace(chord(children, callback))


def _unsupported(ref: dict) -> str:
    return (
        f"This file type is not supported ({filetypes.describe(ref.get('type', 'unknown'))}). "
        "Upload a Word, Excel, PowerPoint, PDF or image file."
    )


def _batch_options(family: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """One child's options: its type's entry when options are given per type, else all."""
    if options and any(key in TASKS_BY_FAMILY for key in options):
        return options.get(family) or {}
    return options or {}


def _batch_operations(family: str, operations: Any) -> list[str] | None:
    """The operations one child runs: its type's entry, or those of a shared list it offers."""
    if isinstance(operations, dict):
        return operations.get(family) or None
    if not operations:
        return None
    offered = runner.single_file_operations(family)
    return [op for op in operations if op in offered] or None


@celery_app.task(bind=True, base=JobTask, internal=True)
def finish_file_batch(self: JobTask, outcome: Any = None, *, plan: list[dict]) -> dict[str, Any]:
    """The end of a batch, run under the batch's own id once every child has finished."""
    for entry in plan:
        if "job_id" in entry:
            entry.update(_child_outcome(self, entry["job_id"]))
            _gather_outputs(self.job_id, entry)
    self.progress(len(plan), len(plan), "Done")
    return finish(plan)


def finish(plan: list[dict]) -> dict[str, Any]:
    succeeded = sum(1 for entry in plan if entry.get("ok"))
    return fit_summary(
        {"files": plan, "succeeded": succeeded, "failed": len(plan) - succeeded},
        MAX_RESULT_CHARS,
    )


def _child_outcome(task: JobTask, child_id: str) -> dict[str, Any]:
    """How one child ended, from the result backend (written before the chord completes)."""
    result = task.app.AsyncResult(child_id)
    if result.state == "SUCCESS":
        files = (result.result or {}).get("files") or [{}]
        summary = files[0]
        return {
            "ok": True,
            "error": None,
            "operations": summary.get("operations", {}),
            "warnings": summary.get("warnings", []),
        }
    error = result.result
    message = str(error) if isinstance(error, Exception) else "The file could not be processed."
    return {"ok": False, "error": message}


def _gather_outputs(batch_id: str, entry: dict) -> None:
    """Link a child's outputs into the batch folder, under the file's name, for one zip."""
    source = storage.outputs_dir(entry["job_id"])
    if not source.is_dir():
        return
    target = storage.unique_path(storage.outputs_dir(batch_id), entry["file"])
    target.mkdir(parents=True)
    names = []
    for path in sorted(source.iterdir()):
        if path.is_file():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
            names.append(f"{target.name}/{path.name}")
    entry["outputs"] = names
