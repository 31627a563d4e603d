"""What a job's parameters look like on the wire: secrets and bulk text become references.

    wire = params.pack(job_id, {"password": "s3cret", "html": "<p>…20 KB…</p>"})
    # {"password": {"$secret": "<job id>:password"}, "html": {"$file": "jobs/<id>/params/html.txt"}}
    params.unpack(job_id, wire)   # the original values again, inside the job's own run

The broker message, task events (Flower), extended results and the kwargs kept for retries
carry only the references: a secret sits encrypted in app.vault while the job may run, a large
text sits in the job's folder, which retention removes with the job.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from app import storage, vault
from app.errors import PermanentError
from app.registry import looks_secret, summarize_params

# Strings longer than this travel as a file: a message body, a pasted document.
MAX_INLINE_CHARS = 4096
FILE_REF = "$file"
PARAMS_FOLDER = "params"


def pack(job_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params with secrets sealed in the vault and long strings saved in the job folder."""
    return {name: _pack(job_id, name, value) for name, value in params.items()}


def publish_options(job_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """apply_async options sending `params` packed, with task events showing a redacted repr."""
    packed = pack(job_id, params)
    # Task events (and so Flower) show these reprs instead of the kwargs themselves.
    return {"kwargs": packed, "task_id": job_id, "argsrepr": "()",
            "kwargsrepr": repr(summarize_params(packed))}


def _pack(job_id: str, path: str, value: Any) -> Any:
    name = path.rsplit(".", 1)[-1]
    if looks_secret(name) and value not in (None, "") and not is_ref(value):
        return vault.seal(job_id, path, value)
    if isinstance(value, str) and len(value) > MAX_INLINE_CHARS:
        return _save_text(job_id, path, value)
    if isinstance(value, dict) and not is_ref(value):
        return {k: _pack(job_id, f"{path}.{k}", v) for k, v in value.items()}
    return value


def _save_text(job_id: str, path: str, text: str) -> dict[str, str]:
    return {FILE_REF: storage.save_text(job_id, PARAMS_FOLDER, f"{path}.txt", text)}


def is_ref(value: Any) -> bool:
    """True for a stand-in this module or the vault made."""
    return vault.is_ref(value) or (isinstance(value, dict) and set(value) == {FILE_REF})


def unpack(job_id: str, params: Any) -> Any:
    """The values the references of `job_id` stand for; PermanentError when one is gone."""
    if vault.is_ref(params):
        return _open_secret(job_id, params)
    if is_ref(params):
        return _read_text(job_id, params[FILE_REF])
    if isinstance(params, dict):
        return {k: unpack(job_id, v) for k, v in params.items()}
    if isinstance(params, list):
        return [unpack(job_id, v) for v in params]
    return params


def _open_secret(job_id: str, ref: dict[str, str]) -> Any:
    try:
        return vault.open(ref, job_id)
    except vault.SecretGone as gone:
        name = str(gone).rsplit(".", 1)[-1] or "secret"
        raise PermanentError(
            f"The {name} given to this job is no longer kept (Nexus keeps secrets only while "
            f"a job is waiting or running): submit the job again and give the {name} again."
        ) from None


def _read_text(job_id: str, rel: str) -> str:
    parts = PurePosixPath(str(rel)).parts
    # Only the job's own saved parameters: a crafted ref must not read another job's files.
    if len(parts) != 4 or parts[:3] != ("jobs", job_id, PARAMS_FOLDER):
        raise PermanentError("A parameter of this job refers to text that is not its own.")
    try:
        return storage.resolve(rel).read_text(encoding="utf-8")
    except PermanentError:
        raise PermanentError(
            "The text given to this job is no longer kept: submit the job again with its text."
        ) from None
