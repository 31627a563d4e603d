"""Celery adapters for the ai queue: unpack arguments, call app.ai, record usage, write outputs.

Every model call takes its requests and tokens from the shared Redis limiter, and its usage is
added to the day's totals the moment it returns, so money spent by a job that later fails is
still counted.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import signals

from app import ai_state, quotas, storage
from app.ai import batch as batches
from app.ai.service import AIResult, AIService, build_service
from app.ai.types import Message, Usage
from app.connection import get_registry
from app.errors import JobCancelled, PermanentError, TransientError
from app.filetypes import sniff_file
from app.registry import TERMINAL
from app.tasks.base import JobTask
from config.celery_config import celery_app

log = logging.getLogger(__name__)

# A job record keeps at most 64 KB of result; longer answers live in full in an output file.
INLINE_TEXT = 20_000
TEXT_TYPES = frozenset({"text", "csv", "json"})
MAX_INPUT_BYTES = 20 * 1024 * 1024
# Files-queue tasks that turn a document into a text output, by sniffed type: (kind, params).
EXTRACTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "docx": ("process_word_document", {"operations": ["extract_text"]}),
    "pdf": ("process_pdf", {"operations": ["extract_text"]}),
    "pptx": ("process_powerpoint", {"operations": ["extract_text"]}),
    "xlsx": ("process_excel_file", {"operations": ["convert"]}),  # one CSV per sheet
}
AI_TASK = {"bind": True, "base": JobTask, "max_retries": 5}
LIMIT_WAIT = 75.0  # longer than the limiter's 60-second window


# shared plumbing --------------------------------------------------------------------------


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


def limiter(
    task: JobTask, interrupt: Callable[[], None] | None = None
) -> ai_state.RateLimiter:
    """The shared limiter, for one job: a cancelled job stops waiting for the window.

    It waits out up to a whole window on its thread: a long document needs more calls than
    a minute allows, and giving up mid-way would make the retry pay for every part again.
    """
    stop = interrupt or (lambda: stop_if_cancelled(task))
    shared = ai_state.RateLimiter(max_wait=LIMIT_WAIT, interrupt=stop)
    if task.request.called_directly:
        return shared
    # Every model call goes through reserve: the owner's daily tokens are checked right there.
    return quotas.QuotaLimiter(shared, task.owner)  # type: ignore[return-value]


def stop_if_cancelled(task: JobTask) -> None:
    if task.request.called_directly:
        return
    if get_registry().state(task.job_id) == "REVOKED":
        raise JobCancelled("The job was cancelled.")


def is_cancelled(job_id: str) -> bool:
    """True once the user cancelled `job_id`; `jobs.cancel` moves its record to REVOKED."""
    return bool(job_id) and get_registry().state(job_id) == "REVOKED"


def confirm_stop(job_id: str, done: str, progress: dict[str, Any] | None = None) -> None:
    """The worker's word that a cancelled job stopped, and what it had done by then.

    jobs.cancel already ended the record; these fields add to it without moving its state.
    """
    fields: dict[str, Any] = {"error": done, "stopped_at": time.time()}
    if progress is not None:
        fields["progress"] = progress
    get_registry().update(job_id, **fields)


class Steps:
    """A job's progress over model calls, looking for a cancel before each call.

    A thread pool cannot kill a job, so the job stops itself at its next step and says how
    far it got. The job id is read once: helper threads have no Celery request of their own.
    With `confirm` False (a batch, which confirms once its items have ended) a cancel only
    raises.
    """

    def __init__(self, task: JobTask, confirm: bool = True) -> None:
        self.task = task
        self.job_id = "" if task.request.called_directly else task.job_id
        self.confirm = confirm
        self.last: dict[str, Any] = {}

    def report(self, current: int, total: int, message: str) -> None:
        self.last = {"current": current, "total": total, "message": message}
        self.check()
        try:
            self.task.progress(current, total, message)
        except JobCancelled:
            self.check()  # cancelled since the check above: confirm it, then stop
            raise

    def check(self) -> None:
        if not is_cancelled(self.job_id):
            return
        if self.confirm:
            done = (
                f"{self.last['current']} of {self.last['total']} steps done before the cancel."
                if self.last else "Stopped before its first step: the job was cancelled."
            )
            confirm_stop(self.job_id, done, self.last or None)
        raise JobCancelled("The job was cancelled.")


def record_usage(usage: Usage, owner: str) -> None:
    """Add a call to the day's totals; a Redis hiccup here must not fail work already paid for."""
    try:
        ai_state.record_usage(usage, owner)
    except redis.RedisError:
        log.warning("Could not add AI usage to the daily totals", exc_info=True)


def service(
    task: JobTask, provider: str | None, model: str | None, confirm: bool = True
) -> AIService:
    """The AI service of one job: it checks for a cancel before every step and limiter wait."""
    owner = task.owner if not task.request.called_directly else ""
    steps = Steps(task, confirm)
    return build_service(
        provider,
        model,
        limiter=limiter(task, steps.check),
        on_usage=lambda usage: record_usage(usage, owner),
        on_progress=steps.report,
    )


def finish(task: JobTask, result: AIResult, output_name: str | None = None) -> dict[str, Any]:
    """The job's result: the answer (in full in an output file when long) and its usage."""
    summary = result.as_dict()
    if output_name and result.text:
        path = task.output_path(output_name)
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
    if document is not None and document.get("type") in EXTRACTORS:
        return chain_extraction(self, document, analysis, question, provider, model)
    source = input_text(self, text, document, source_job_id, output_name)
    result = service(self, provider, model).analyze(source, analysis, question)
    return finish(self, result, f"{analysis}.md")


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


def input_text(
    task: JobTask,
    text: str | None,
    document: dict | None,
    source_job_id: str | None,
    output_name: str | None,
) -> str:
    """The text to work on: pasted, a stored text file, or a files-queue job's text output."""
    if text and text.strip():
        return text
    if document is not None:
        return read_text_file(task.input_path(document), document.get("name", "the file"))
    if source_job_id:
        return source_job_text(task, source_job_id, output_name)
    raise PermanentError("Paste some text or choose a processed file first.")


def read_text_file(path: Path, name: str) -> str:
    kind = sniff_file(path)
    if kind not in TEXT_TYPES:
        raise PermanentError(
            f"{name} is not a text file; process it on the Files page first and pick its text."
        )
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise PermanentError(f"{name} is larger than {MAX_INPUT_BYTES // 2**20} MB of text.")
    return path.read_text(encoding="utf-8", errors="replace")


def source_job_text(task: JobTask, job_id: str, output_name: str | None) -> str:
    """The text output(s) of a finished files-queue job that belongs to the same owner."""
    record = get_registry().get(storage.check_job_id(job_id))
    # Someone else's job answers exactly as a job that does not exist.
    if record is None or record.get("owner") != task.owner:
        raise PermanentError("The job that should provide the text no longer exists.")
    if record["state"] != "SUCCESS":
        if record["state"] in TERMINAL:
            raise PermanentError("The text extraction did not succeed, so there is no text.")
        raise TransientError("The text extraction has not finished yet.", retry_after=5)
    outputs = text_outputs(job_id)
    if output_name:
        outputs = [o for o in outputs if o["name"] == output_name]
    if not outputs:
        raise PermanentError("That job produced no text to work on.")
    texts = [read_text_file(storage.resolve(o), o["name"]) for o in outputs]
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"# {o['name']}\n\n{t}" for o, t in zip(outputs, texts))


def text_outputs(job_id: str) -> list[dict]:
    """A job's text outputs, the most readable kind first: .txt, then .md, then .csv."""
    found = [o for o in storage.list_outputs(job_id) if o["type"] in ("text", "csv")]
    for suffix in (".txt", ".md", ".csv"):
        picked = [o for o in found if o["name"].lower().endswith(suffix)]
        if picked:
            return picked
    return found


def chain_extraction(
    task: JobTask,
    document: dict,
    analysis: str,
    question: str | None,
    provider: str | None,
    model: str | None,
) -> dict:
    """Extract on the files queue, then analyse: a Celery chain of two recorded jobs."""
    kind, params = EXTRACTORS[document["type"]]
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
    return {
        "operation": "analyze",
        "analysis": analysis,
        "text": f"{document.get('name', 'The file')} goes to the files queue for text "
        "extraction first; the analysis follows as its own job.",
        "extract_job": extract_id,
        "analysis_job": analysis_id,
    }


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
    """The assistant's reply to `message` in a stored conversation (a new one if none given).

    The history goes to the model as real alternating messages; the turn is stored only once
    the reply exists, so a retried job never stores a question twice.
    """
    ai = service(self, provider, model)
    conversation = open_conversation(conversation_id, self.owner)
    history = [Message(m["role"], m["content"]) for m in conversation.get("messages", [])]
    result = ai.chat([*history, Message("user", message)], system)
    if not conversation.get("id"):
        conversation = ai_state.create_conversation(
            conversation["owner"], message, result.usage.provider, result.usage.model
        )
    ai_state.append_turn(
        conversation["id"],
        message,
        result.text,
        turn_id=turn_id or self.job_id,
        provider=result.usage.provider,
        model=result.usage.model,
        usage=result.usage.as_dict(),
    )
    # The conversation keeps every reply; a file is only needed when the record cannot.
    long_reply = "reply.md" if len(result.text) > INLINE_TEXT else None
    return {**finish(self, result, long_reply), "conversation_id": conversation["id"]}


def open_conversation(conversation_id: str | None, owner: str) -> dict[str, Any]:
    """The stored conversation to continue, or a blank one created once the reply exists."""
    if not conversation_id:
        return {"owner": owner, "messages": []}
    conversation = ai_state.load_conversation(conversation_id)
    if conversation is None or conversation["owner"] != owner:
        raise PermanentError("That conversation no longer exists; start a new one.")
    return conversation


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

    def answer(item: batches.BatchItem) -> tuple[str, Usage]:
        result = ai.complete(item.prompt, item.system or system)
        return result.text, result.usage

    job_id = self.job_id if not self.request.called_directly else ""
    try:
        self.progress(0, len(items), f"Running {len(items)} prompts")
        batches.run_batch(
            items,
            answer,
            concurrency=concurrency,
            on_done=lambda done, total: batch_progress(self, done, total),
            cancelled=lambda: is_cancelled(job_id),
        )
    except JobCancelled:
        # run_batch returns only once the calls in flight have ended: the count is final.
        done = sum(1 for item in items if item.ok is not None)
        line = f"{done} of {len(items)} prompts done"
        confirm_stop(job_id, f"{line} before the cancel.",
                     {"current": done, "total": len(items), "message": line})
        raise
    batches.write_csv(items, self.output_path("results.csv"))
    batches.write_xlsx(items, self.output_path("results.xlsx"))
    return batch_summary(items)


def batch_progress(task: JobTask, done: int, total: int) -> None:
    """Progress after one item; a cancel is left to run_batch, which stops its items first."""
    try:
        task.progress(done, total, f"{done} of {total} prompts done")
    except JobCancelled:
        pass  # raising here would skip counting the items still in flight


def batch_summary(items: list[batches.BatchItem]) -> dict[str, Any]:
    failed = [i for i in items if not i.ok]
    usage = batches.total_usage(items)
    return {
        "operation": "batch",
        "total": len(items),
        "succeeded": len(items) - len(failed),
        "failed": len(failed),
        "provider": usage.provider,
        "model": usage.model,
        "usage": usage.as_dict(),
        "items": [
            {**i.row(), "answer": i.answer[:500], "prompt": i.prompt[:200]} for i in items[:50]
        ],
        "notes": [f"Only the first 50 of {len(items)} items are shown; the CSV and XLSX hold all."]
        if len(items) > 50
        else [],
    }
