"""Files queue: thin adapters from Celery to the pure code in app.office.

Each task resolves its storage refs, calls `runner.process_files` with the job's output folder
and its progress, and returns the summary. A refused file raises PermanentError, so the job
fails at once with the sentence and is never retried.

`batch_process_files` gives every file a child job of its own and runs those jobs in chunks
(app.tasks.chunks): many small files per Celery task, a large one alone, sized by
`batch.plan_chunks`. It replaces itself with a chord of the chunks: the chord's callback runs
under the batch's own job id, so the batch job ends when its last chunk does, with a per-file
result read from the children's records, whether they succeeded or failed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import redis
from celery import chord

from app import storage
from app.connection import get_registry
from app.errors import PermanentError
from app.office import batch, runner
from app.office.outputs import fit_summary
from app.registry import TERMINAL
from app.settings import get_settings
from app.tasks import chunks, params, recording
from app.tasks.base import JobTask
from config.celery_config import celery_app, queue_for_module

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

    A job carried in a chunk is counted by its chunk, a few at a time (count_on_batch).
    """
    parent = task.request.parent_id
    if not parent or task.request.called_directly or getattr(task.request, "carried", False):
        return
    count_on_batch(parent, 1)


def count_on_batch(batch_id: str, ended: int) -> None:
    """Add `ended` files to the batch's progress; a Redis hiccup is only logged."""
    try:
        _count_on_batch(batch_id, ended)
    except redis.RedisError:
        log.warning("Could not update the progress of batch %s", batch_id, exc_info=True)


def _count_on_batch(batch_id: str, ended: int) -> None:
    registry = get_registry()
    kind, progress = registry.redis.hmget(registry.job_key(batch_id), "kind", "progress")
    if kind != BATCH_KIND:
        return
    total = json.loads(progress or "{}").get("total") or 0
    counter = f"{registry.prefix}:batch-done:{batch_id}"
    with registry.redis.pipeline() as pipe:
        pipe.incrby(counter, ended)
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
    """Many files of any type in parallel chunks, one child job each; one bad file fails alone.

    `operations` is a list shared by all files (each runs what its type offers) or a dict
    from type ('docx', 'xlsx', 'pptx', 'pdf', 'image') to a list; `options` likewise is one
    dict for all or a dict per type.
    """
    if not files:
        raise PermanentError("Choose at least one file.")
    plan, carried, costs = [], [], []
    for index, ref in enumerate(files):
        family, entry = batch.plan_entry(self.input_path(ref), name_of(ref), ref.get("type", ""))
        plan.append(entry)
        if family is None:
            continue
        entry["job_id"] = child_id = batch.child_id(self.job_id, index)
        # Packed for the child: its message carries no password (nor a new one in options).
        secrets = params.pack(child_id, {"options": batch.child_options(family, options),
                                         "password": password})
        carried.append({"job_id": child_id, "type": family, "name": TASKS_BY_FAMILY[family].name,
                        "kwargs": {"files": [ref], "operations": batch.child_operations(
                            family, operations), **secrets}})
        costs.append(batch.expected_seconds(family, ref.get("size")))
    # Before any child is recorded: a batch cancelled by now leaves no child waiting forever.
    self.progress(0, len(carried), f"Processing {len(carried)} file(s) in parallel")
    header = _chunk_signatures(self, carried, costs)
    if not header:
        return fit_summary(batch.summary(plan), MAX_RESULT_CHARS)
    # The callback and the error callback both run as this job: whichever way the chunks
    # end, the batch job records the per-file outcome. The callback is immutable so the
    # chunks' results are not copied into its message; it reads the children's records.
    callback = finish_file_batch.si(plan=plan).set(task_id=self.job_id)
    callback.link_error(finish_file_batch.s(plan=plan).set(task_id=self.job_id))
    return self.replace(chord(header, callback))


def _chunk_signatures(task: JobTask, carried: list[dict], costs: list[float]) -> list:
    """One signature per chunk of the carried jobs, whose records are made here, unpublished."""
    header = []
    limit = get_settings().batch_files_per_chunk
    for number, members in enumerate(batch.plan_chunks(costs, max_files=limit)):
        jobs = [carried[i] for i in members]
        # A file alone lends its chunk its id: cancelling it then stops its worker process,
        # as cancelling any running job does. Several small files stop at their next step.
        chunk_id = jobs[0]["job_id"] if len(jobs) == 1 else batch.chunk_id(task.job_id, number)
        for job in jobs:
            job["chunk"] = chunk_id
        header.append(run_file_chunk.si(
            batch_id=task.job_id,
            jobs=[{key: job[key] for key in ("job_id", "type", "kwargs")} for job in jobs],
        ).set(task_id=chunk_id))
    priority = (task.request.delivery_info or {}).get("priority")
    recording.record_carried(task.job_id, carried, queue=queue_for_module(__name__) or "files",
                             priority=priority)
    return header


@celery_app.task(bind=True, internal=True)
def run_file_chunk(self: Any, batch_id: str, jobs: list[dict]) -> dict[str, Any]:
    """Run a chunk of a batch's files, each as its own child job; a carrier with no record."""
    return chunks.run(self, batch_id, jobs, TASKS_BY_FAMILY,
                      count=lambda ended: count_on_batch(batch_id, ended))


recording.CARRIERS.add(run_file_chunk.name)


@celery_app.task(bind=True, base=JobTask, internal=True)
def finish_file_batch(self: JobTask, outcome: Any = None, *, plan: list[dict]) -> dict[str, Any]:
    """The end of a batch, run under the batch's own id once every chunk has finished."""
    ids = [entry["job_id"] for entry in plan if "job_id" in entry]
    records = _records(ids)
    # A file its chunk never reached (the chunk ran out of time, or was discarded) ends here.
    unfinished = [job_id for job_id in ids if records.get(job_id, {}).get("state") not in TERMINAL]
    for job_id in unfinished:
        recording.end_unfinished(job_id, batch.UNFINISHED)
    records.update(_records(unfinished))
    for entry in plan:
        if "job_id" in entry:
            record = records.get(entry["job_id"]) or {}
            entry.update(batch.child_outcome(record.get("state"), record.get("result"),
                                             record.get("error")))
    _gather_outputs(self.job_id, plan)
    self.progress(len(plan), len(plan), "Done")
    return fit_summary(batch.summary(plan), MAX_RESULT_CHARS)


def _records(job_ids: list[str]) -> dict[str, dict]:
    return {record["id"]: record for record in get_registry().get_many(job_ids)} if job_ids else {}


def _gather_outputs(batch_id: str, plan: list[dict]) -> None:
    """Copy each file's outputs into the batch folder, under the file's name, for one zip."""
    children = [entry for entry in plan if "job_id" in entry]
    gathered = storage.gather_outputs(batch_id, [(e["job_id"], e["file"]) for e in children])
    for entry, names in zip(children, gathered, strict=True):
        if names:
            entry["outputs"] = names
