"""OCR queue: a thin adapter from Celery to app.office.ocr.

OCR is long, CPU-heavy work, so it has a queue of its own and a quick file job never waits
behind a 200-page scan. Languages default to OCR_LANGUAGES; a missing program or language
fails the job at once with the install command, never a retry loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import storage
from app.office import ocr
from app.office.outputs import fit_summary
from app.settings import get_settings
from app.tasks.base import JobTask
from config.celery_config import celery_app

MAX_RESULT_CHARS = 48_000


@celery_app.task(bind=True, base=JobTask)
def ocr_documents(
    self: JobTask,
    files: list[dict],
    languages: list[str] | str | None = None,
    pdfa: bool = False,
    clean: bool = False,
) -> dict[str, Any]:
    """Scanned PDFs and images -> searchable PDFs (PDF/A when `pdfa`) and their text.

    `clean` runs unpaper over speckled pages before recognition (slower).
    """
    settings = get_settings()
    summary = ocr.ocr_files(
        [self.input_path(ref) for ref in files],
        storage.outputs_dir(self.job_id),
        names=[ref.get("name") or Path(ref["path"]).name for ref in files],
        languages=ocr.parse_languages(languages, settings.ocr_languages),
        pdfa=bool(pdfa),
        clean=bool(clean),
        jobs=settings.ocr_page_jobs,
        page_timeout=settings.ocr_page_timeout,
        progress=self.progress,
    )
    return fit_summary(summary, MAX_RESULT_CHARS)
