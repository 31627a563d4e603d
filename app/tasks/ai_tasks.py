"""Celery adapters for the ai queue: each task unpacks its arguments, calls app.ai and returns
the result; `ai_calls` gives every job its rate-limited, usage-counting, cancellable service.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from typing import Any

from celery import signals

from app import storage
from app.ai import batch as batches
from app.ai import chat, inputs
from app.ai import fields as field_rules
from app.ai.results import fits_in_record, job_result
from app.ai.service import AIResult
from app.connection import get_redis, get_registry
from app.errors import JobCancelled, PermanentError
from app.office import ocr
from app.settings import get_settings
from app.tasks.ai_calls import service
from app.tasks.base import JobTask
from app.tasks.cancel import confirm_stop, is_cancelled
from config.celery_config import celery_app

AI_TASK = {"bind": True, "base": JobTask, "max_retries": 5}


@signals.worker_ready.connect
def warm_up_sdks(sender: Any = None, **_: Any) -> None:
    """An ai worker loads the provider SDKs in the background as it starts, so the first chat
    does not wait seconds for imports; workers of other queues never load them."""
    consumer = getattr(sender, "task_consumer", None)
    queues = {q.name for q in consumer.queues} if consumer else set()
    if "ai" in queues:
        threading.Thread(target=_import_sdks, name="ai-sdk-warm-up", daemon=True).start()


def _import_sdks() -> None:
    for name in ("anthropic", "openai"):
        importlib.import_module(name)


def finish(task: JobTask, result: AIResult, output_name: str | None = None) -> dict[str, Any]:
    """The job's result, with the whole answer in the output `output_name` when given."""
    return job_result(result, task.output_path, output_name)


def input_text(
    task: JobTask,
    text: str | None,
    document: dict | None,
    source_job_id: str | None,
    output_name: str | None,
) -> str:
    """The text to work on, read only from the job owner's own files and jobs."""
    return inputs.input_text(
        text, document, source_job_id, output_name,
        owner=task.owner, open_file=task.input_path, read_job=get_registry().get,
    )


# completions ------------------------------------------------------------------------------


@celery_app.task(**AI_TASK)
def claude_completion(
    self: JobTask, prompt: str, system: str | None = None, model: str | None = None
) -> dict:
    """One answer from Claude (Anthropic's Messages API)."""
    return finish(self, service(self, "anthropic", model).complete(prompt, system), "answer.md")


@celery_app.task(**AI_TASK)
def openai_completion(
    self: JobTask, prompt: str, system: str | None = None, model: str | None = None
) -> dict:
    """One answer from OpenAI, or from the OpenAI-compatible server set in OPENAI_BASE_URL."""
    return finish(self, service(self, "openai", model).complete(prompt, system), "answer.md")


# documents --------------------------------------------------------------------------------


@celery_app.task(**AI_TASK)
def analyze_document(
    self: JobTask,
    text: str | None = None,
    analysis: str = "summary",
    question: str | None = None,
    files: list[dict] | None = None,
    source_job_id: str | None = None,
    output_name: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """An analysis of pasted text, of a text file, or of the text output of a files-queue job.

    A Word, PDF, PowerPoint or Excel file is first sent to the files queue for extraction; this
    job then starts the analysis as the next link of that chain and names it in its result.
    """
    document = files[0] if files else None
    if inputs.needs_extraction(document):
        return chain_extraction(document, analysis, question, provider, model)
    source = input_text(self, text, document, source_job_id, output_name)
    result = service(self, provider, model).analyze(source, analysis, question)
    return finish(self, result, f"{analysis}.md")


def chain_extraction(
    document: dict, analysis: str, question: str | None, provider: str | None, model: str | None
) -> dict:
    """Extract on the files queue, then analyse: a Celery chain of two recorded jobs."""
    kind, params = inputs.EXTRACTORS[document["type"]]
    extractor = celery_app.tasks.get(f"app.tasks.file_tasks.{kind}")
    if extractor is None:
        raise PermanentError(
            f"Text extraction for {document.get('name', 'this file')} needs the files queue's "
            f"{kind} job, which this installation does not have."
        )
    extract_id, analysis_id = str(uuid.uuid4()), str(uuid.uuid4())
    follow = analyze_document.si(
        analysis=analysis,
        question=question,
        source_job_id=extract_id,
        provider=provider,
        model=model,
    ).set(task_id=analysis_id)
    (extractor.si(files=[document], **params).set(task_id=extract_id) | follow).apply_async()
    return inputs.extraction_started(document, analysis, extract_id, analysis_id)


@celery_app.task(**AI_TASK)
def translate_text(
    self: JobTask,
    text: str | None = None,
    target_language: str = "English",
    source_language: str | None = None,
    files: list[dict] | None = None,
    source_job_id: str | None = None,
    output_name: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """The text in another language, keeping its paragraphs and formatting."""
    document = files[0] if files else None
    source = input_text(self, text, document, source_job_id, output_name)
    result = service(self, provider, model).translate(source, target_language, source_language)
    return finish(self, result, f"translation-{storage.safe_filename(target_language)}.md")


@celery_app.task(**AI_TASK)
def generate_content(
    self: JobTask,
    brief: str,
    kind: str = "email",
    tone: str = "professional",
    length: str = "medium",
    audience: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """An email, blog post, report section or social post written from a brief."""
    result = service(self, provider, model).generate(kind, brief, tone, length, audience)
    return finish(self, result, f"{kind}.md")


# chat -------------------------------------------------------------------------------------


@celery_app.task(**AI_TASK)
def chat_completion(
    self: JobTask,
    message: str,
    conversation_id: str | None = None,
    system: str | None = None,
    turn_id: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """The assistant's reply to `message` in a stored conversation (a new one if none given)."""
    result, conversation_id = chat.reply(
        service(self, provider, model),
        message,
        owner=self.owner,
        turn_id=turn_id or self.job_id,
        conversation_id=conversation_id,
        system=system,
        client=get_redis(),
    )
    # The conversation keeps every reply; a file is only needed when the record cannot.
    long_reply = None if fits_in_record(result.text) else "reply.md"
    return {**finish(self, result, long_reply), "conversation_id": conversation_id}


# batches ----------------------------------------------------------------------------------


@celery_app.task(**AI_TASK)
def batch_ai_requests(
    self: JobTask,
    prompts: list[str] | None = None,
    files: list[dict] | None = None,
    system: str | None = None,
    concurrency: int = 4,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """Many prompts in parallel under the shared rate limit; each item succeeds or fails alone.

    Prompts come as a list or as a CSV upload; the results are written as CSV and XLSX.
    """
    if files:
        items = batches.items_from_csv(self.input_path(files[0]).read_bytes())
    else:
        items = batches.items_from_prompts(prompts or [])
    ai = service(self, provider, model, confirm=False)
    ai.on_progress = None  # one progress line for the batch, not one per item
    ai.require()
    job_id = self.job_id if not self.request.called_directly else ""
    try:
        self.progress(0, len(items), f"Running {len(items)} prompts")
        batches.run_batch(
            items,
            batches.completions(ai, system),
            concurrency=concurrency,
            on_done=lambda done, total: batch_progress(self, done, total),
            cancelled=lambda: is_cancelled(job_id),
        )
    except JobCancelled:
        # run_batch returns only once the calls in flight have ended: the count is final.
        done = batches.ended(items)
        line = f"{done} of {len(items)} prompts done"
        confirm_stop(job_id, f"{line} before the cancel.",
                     {"current": done, "total": len(items), "message": line})
        raise
    batches.write_csv(items, self.output_path("results.csv"))
    batches.write_xlsx(items, self.output_path("results.xlsx"))
    return batches.summary(items)


def batch_progress(task: JobTask, done: int, total: int) -> None:
    """Progress after one item; a cancel is left to run_batch, which stops its items first."""
    try:
        task.progress(done, total, f"{done} of {total} prompts done")
    except JobCancelled:
        pass  # raising here would skip counting the items still in flight


# fields -----------------------------------------------------------------------------------


@celery_app.task(**AI_TASK)
def extract_fields(
    self: JobTask,
    files: list[dict] | None = None,
    schema: str = "invoice",
    fields: list[str] | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """Invoice, receipt or custom fields from PDFs, Word documents, images and text files.

    Scans and images are OCR'd first; one row per file, written as CSV, XLSX and JSON. A file
    that fails has its error on its row. Offline (no provider), rules find what they can.
    """
    spec = field_rules.spec_for(schema, fields)
    documents = [
        field_rules.Document(self.input_path(ref), ref.get("name") or "file") for ref in files or []
    ]
    ai = service(self, provider, model)  # its progress looks for a cancel before each file
    languages = ocr.parse_languages(get_settings().ocr_languages)
    rows = field_rules.extract_files(
        ai, documents, spec, languages=languages, progress=ai.on_progress or (lambda *_: None)
    )
    field_rules.write_csv(rows, spec, self.output_path("fields.csv"))
    field_rules.write_xlsx(rows, spec, self.output_path("fields.xlsx"))
    field_rules.write_json(rows, spec, self.output_path("fields.json"))
    return field_rules.summary(rows, spec, ai)
