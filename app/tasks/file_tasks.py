"""Files queue: thin adapters from Celery to the pure code in app.office.

Each task resolves its storage refs, calls `runner.process_files` with the job's output folder
and its progress, and returns the summary. A refused file raises PermanentError, so the job
fails at once with the sentence and is never retried.

`batch_process_files` fans out one child job per file as a Celery chord and replaces itself
with it: the chord's callback runs under the batch's own job id, so the batch job ends when
its last child does, with a per-file result, whether the children succeeded or failed.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import chord

from app import storage
from app.connection import get_registry
from app.errors import PermanentError
from app.office import batch, runner
from app.office.outputs import fit_summary
from app.tasks import params
from app.tasks.base import JobTask
from config.celery_config import celery_app

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 48_000
BATCH_KIND = "batch_process_files"
BATCH_COUNTER_TTL = 86_400


def name_of(ref: dict) -> str:
    """The name a person gave a stored file."""
    return ref.get("name") or Path(ref["path"]).name


def run_files(
    task: JobTask,
    files: list[dict],
    family: str,
    operations: list[str] | None,
    options: dict[str, Any] | None,
    password: str | None,
) -> dict[str, Any]:
    """Process every file of one family in order (merging PDFs if asked) as this job."""
    try:
        summary = runner.process_files(
            [task.input_path(ref) for ref in files],
            storage.outputs_dir(task.job_id),
            family=family,
            names=[name_of(ref) for ref in files],
            operations=operations,
            options=options,
            password=password,
            progress=task.progress,
        )
        return fit_summary(summary, MAX_RESULT_CHARS)
    finally:
        _after_child(task)


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


@celery_app.task(bind=True, base=JobTask)
def process_word_document(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Word: extract_text, count_stats, extract_images, to_markdown, metadata."""
    return run_files(self, files, "docx", operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_excel_file(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Excel: analyze, convert (CSV and JSON), calculate (totals, optional group_by)."""
    return run_files(self, files, "xlsx", operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_powerpoint(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """PowerPoint: extract_text, structure, extract_images, outline."""
    return run_files(self, files, "pptx", operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_pdf(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """PDF: extract_text, metadata, thumbnails, split, rotate, and merge of all files."""
    return run_files(self, files, "pdf", operations, options, password)


@celery_app.task(bind=True, base=JobTask)
def process_image(
    self: JobTask,
    files: list[dict],
    operations: list[str] | None = None,
    options: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Images: info, thumbnail, resize, convert, strip_metadata."""
    return run_files(self, files, "image", operations, options, password)


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
        family, entry = batch.plan_entry(self.input_path(ref), name_of(ref), ref.get("type", ""))
        plan.append(entry)
        if family is None:
            continue
        entry["job_id"] = child_id = str(uuid.uuid4())
        # Packed for the child: its message carries no password (nor a new one in options).
        secrets = params.pack(child_id, {"options": batch.child_options(family, options),
                                         "password": password})
        children.append(
            TASKS_BY_FAMILY[family].si(
                files=[ref],
                operations=batch.child_operations(family, operations),
                options=secrets["options"],
                password=secrets["password"],
            ).set(task_id=child_id)
        )
    self.progress(0, len(children), f"Processing {len(children)} file(s) in parallel")
    if not children:
        return fit_summary(batch.summary(plan), MAX_RESULT_CHARS)
    # The callback and the error callback both run as this job: whichever way the children
    # end, the batch job records the per-file outcome. The callback is immutable so the
    # children's results are not copied into its message; it reads them from the backend.
    callback = finish_file_batch.si(plan=plan).set(task_id=self.job_id)
    callback.link_error(finish_file_batch.s(plan=plan).set(task_id=self.job_id))
    return self.replace(chord(children, callback))


@celery_app.task(bind=True, base=JobTask, internal=True)
def finish_file_batch(self: JobTask, outcome: Any = None, *, plan: list[dict]) -> dict[str, Any]:
    """The end of a batch, run under the batch's own id once every child has finished."""
    for entry in plan:
        if "job_id" in entry:
            # The result backend has each child's end: it is written before the chord completes.
            result = self.app.AsyncResult(entry["job_id"])
            entry.update(batch.child_outcome(result.state, result.result))
            _gather_outputs(self.job_id, entry)
    self.progress(len(plan), len(plan), "Done")
    return fit_summary(batch.summary(plan), MAX_RESULT_CHARS)


def _gather_outputs(batch_id: str, entry: dict) -> None:
    """Copy a child's outputs into the batch folder, under the file's name, for one zip."""
    names = storage.copy_outputs(entry["job_id"], batch_id, entry["file"])
    if names:
        entry["outputs"] = names
