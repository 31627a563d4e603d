"""The text an AI job works on: pasted, a stored text file, or another job's text outputs.

A Word, PDF, PowerPoint or Excel file is not read here: it goes to the files queue for text
extraction first (`EXTRACTORS` names the job that does it), and the analysis follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app import storage
from app.errors import PermanentError, TransientError
from app.filetypes import sniff_file

TEXT_TYPES = frozenset({"text", "csv", "json"})
MAX_INPUT_BYTES = 20 * 1024 * 1024
# Files-queue tasks that turn a document into a text output, by sniffed type: (kind, params).
EXTRACTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "docx": ("process_word_document", {"operations": ["extract_text"]}),
    "pdf": ("process_pdf", {"operations": ["extract_text"]}),
    "pptx": ("process_powerpoint", {"operations": ["extract_text"]}),
    "xlsx": ("process_excel_file", {"operations": ["convert"]}),  # one CSV per sheet
}
# States after which a job never produces its outputs (SUCCESS is checked first).
ENDED_WITHOUT_OUTPUT = frozenset({"FAILURE", "REVOKED"})

JobReader = Callable[[str], Mapping[str, Any] | None]


def needs_extraction(document: Mapping[str, Any] | None) -> bool:
    """True for a document whose text the files queue must extract first."""
    return document is not None and document.get("type") in EXTRACTORS


def extraction_started(
    document: Mapping[str, Any], analysis: str, extract_id: str, analysis_id: str
) -> dict[str, Any]:
    """The result of a job that handed its document to an extraction and its analysis."""
    return {
        "operation": "analyze",
        "analysis": analysis,
        "text": f"{document.get('name', 'The file')} goes to the files queue for text "
        "extraction first; the analysis follows as its own job.",
        "extract_job": extract_id,
        "analysis_job": analysis_id,
    }


def input_text(
    text: str | None,
    document: dict | None,
    source_job_id: str | None,
    output_name: str | None,
    *,
    owner: str,
    open_file: Callable[[dict], Path],
    read_job: JobReader,
) -> str:
    """The text to work on: pasted, a stored text file, or a files-queue job's text output.

    `open_file` gives the local path of one of the owner's stored files; `read_job` a job record.
    """
    if text and text.strip():
        return text
    if document is not None:
        return read_text_file(open_file(document), document.get("name", "the file"))
    if source_job_id:
        return source_job_text(source_job_id, output_name, owner=owner, read_job=read_job)
    raise PermanentError("Paste some text or choose a processed file first.")


def read_text_file(path: Path, name: str) -> str:
    """The file's text; a PermanentError for a file that is not text or is too large."""
    kind = sniff_file(path)
    if kind not in TEXT_TYPES:
        raise PermanentError(
            f"{name} is not a text file; process it on the Files page first and pick its text."
        )
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise PermanentError(f"{name} is larger than {MAX_INPUT_BYTES // 2**20} MB of text.")
    return path.read_text(encoding="utf-8", errors="replace")


def source_job_text(
    job_id: str, output_name: str | None, *, owner: str, read_job: JobReader
) -> str:
    """The text output(s) of a finished files-queue job that belongs to the same owner."""
    record = read_job(storage.check_job_id(job_id))
    # Someone else's job answers exactly as a job that does not exist.
    if record is None or record.get("owner") != owner:
        raise PermanentError("The job that should provide the text no longer exists.")
    if record["state"] != "SUCCESS":
        if record["state"] in ENDED_WITHOUT_OUTPUT:
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
