"""Files: upload Word, Excel, PowerPoint, PDF and image files, pick operations, get results.

One type of file runs as one job (PDFs can be merged in that job); several types, or the
parallel option, run as a batch with one child job per file. OCR of scans is a job of its
own on the ocr queue, offered for uploaded PDFs and images and for a PDF found scanned.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import jobs
from app.errors import PermanentError
from app.office import runner
from app.office.guard import EXTENSIONS, family_from_name
from app.quotas import QuotaExceeded
from app.settings import get_settings
from app.ui import files, job_panel, when
from app.ui.signin import current_user

USER = current_user()
TASKS = {
    "docx": "process_word_document",
    "xlsx": "process_excel_file",
    "pptx": "process_powerpoint",
    "pdf": "process_pdf",
    "image": "process_image",
}
PLURALS = {
    "docx": "Word documents",
    "xlsx": "Excel workbooks",
    "pptx": "PowerPoint presentations",
    "pdf": "PDFs",
    "image": "Images",
}


# choosing work ---------------------------------------------------------------------------


def families_of(uploads: list[Any]) -> dict[str, list[Any]]:
    """Uploads grouped by the type their name claims; the worker checks the real bytes."""
    groups: dict[str, list[Any]] = {}
    for upload in uploads:
        groups.setdefault(family_from_name(upload.name) or "other", []).append(upload)
    return groups


def pick_operations(family: str) -> list[str]:
    module = runner.module_for(family)
    return st.multiselect(
        f"{PLURALS[family]}: operations",
        list(module.OPERATIONS),
        default=list(module.DEFAULT_OPERATIONS),
        format_func=lambda op: module.OPERATIONS[op],
        key=f"ops-{family}",
    )


def submit_form(uploads: list[Any]) -> None:
    groups = families_of(uploads)
    if "other" in groups:
        names = ", ".join(u.name for u in groups["other"])
        st.warning(f"Not a supported type, so they will be refused: {names}")
    known = [f for f in groups if f != "other"]
    batch = len(known) > 1 or "other" in groups
    if not batch and len(uploads) > 1:
        batch = st.checkbox(
            "Process each file as its own job, in parallel",
            value=known[0] != "pdf",
            help="Off: one job handles the files in order (needed to merge PDFs).",
        )
    operations: dict[str, list[str]] = {}
    options: dict[str, dict[str, Any]] = {}
    for family in known:
        with st.container(border=True):
            chosen = pick_operations(family)
            if batch and set(chosen) & set(runner.MULTI_FILE):
                st.info("Merging or combining needs the files in one job: untick the "
                        "parallel option.")
                chosen = [op for op in chosen if op not in runner.MULTI_FILE]
            operations[family] = chosen
            options[family] = files.options_for(family, chosen)
    password = ""
    if "pdf" in known:
        password = st.text_input("PDF password (if the PDFs are protected)", type="password")
    scans = [u for u in uploads if family_from_name(u.name) in ("pdf", "image")]
    if scans:
        files.ocr_form(scans, USER)
    if st.button("Process", type="primary", disabled=not uploads):
        params: dict[str, Any] = {"password": password} if password else {}
        if batch:
            params.update(operations=operations, options=options)
            kind = "batch_process_files"
        else:
            params.update(operations=operations[known[0]], options=options[known[0]])
            kind = TASKS[known[0]]
        try:
            st.session_state[files.JOB_KEY] = jobs.submit(kind, params, files=uploads, user=USER)
        except (QuotaExceeded, PermanentError) as exc:  # e.g. UploadTooLarge: say it, no trace
            st.error(str(exc))


def recent_jobs() -> None:
    found = [
        job for queue in ("files", "ocr")
        for job in jobs.list(user=USER, owner=USER.id, queue=queue, limit=10).jobs
    ]
    mine = sorted(
        (job for job in found if job["kind"] != "finish_file_batch"),
        key=lambda job: job.get("submitted_at") or 0, reverse=True,
    )[:10]
    if not mine:
        return
    with st.expander("Recent file jobs"):
        picked = st.selectbox(
            "Open a recent job",
            [None, *[job["id"] for job in mine]],
            format_func=lambda j: (
                "—" if j is None else _describe(next(x for x in mine if x["id"] == j))
            ),
        )
        if picked:
            st.session_state[files.JOB_KEY] = picked


def _describe(job: dict[str, Any]) -> str:
    return f"{job['kind']} · {job['state']} · {when(job['submitted_at'])}"


# the page ------------------------------------------------------------------------------------

settings = get_settings()
st.title("Files")
st.caption(
    "Word (.docx), Excel (.xlsx), PowerPoint (.pptx), PDF and images (PNG, JPEG, GIF, WebP, "
    "TIFF, BMP, HEIC, AVIF); older .doc, .xls and .ppt and OpenDocument files are converted "
    f"first. Up to {settings.max_upload_mb} MB each; Office files may unpack to at most "
    f"{settings.max_inflated_mb} MB. Every file is checked before it is opened."
)
uploads = (
    st.file_uploader(
        "Files", type=sorted({ext.lstrip(".") for ext in EXTENSIONS}), accept_multiple_files=True
    )
    or []
)
if uploads:
    submit_form(uploads)
recent_jobs()
if st.session_state.get(files.JOB_KEY):
    job_panel(
        st.session_state[files.JOB_KEY], USER, render_result=lambda r: files.show_result(r, USER)
    )
