"""OCR of scanned PDFs and images: a searchable PDF (PDF/A when asked) and the text.

OCRmyPDF drives tesseract, ghostscript and unpaper. Pages that already have a text layer
are kept as they are, and a PDF whose every page has text comes back byte for byte. Pages are
deskewed and turned upright before recognition; images are turned upright by their EXIF
orientation first. Every input passes the same guard as the files queue, and OCRmyPDF is
held to the same pixel limit.

OCR runs pages on threads, not processes: a Celery prefork child may not fork workers of its
own, and the heavy lifting happens in tesseract subprocesses anyway.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from app.errors import PermanentError
from app.office import guard, heif, pdf
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of, text_summary
from app.office.runner import file_progress

OPERATIONS: dict[str, str] = {"ocr": "Recognise text (OCR): a searchable PDF and its text"}
DEFAULT_OPERATIONS = ("ocr",)

# The Debian package each program OCR needs comes from.
PROGRAMS = {"tesseract": "tesseract-ocr", "gs": "ghostscript", "unpaper": "unpaper"}
INSTALL_COMMAND = (
    "apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng "
    "ghostscript unpaper"
)
DEFAULT_DPI = 300
MAX_IMAGE_PAGES = 500
PAGE_TIMEOUT = 180.0
_ONE_AT_A_TIME = threading.Lock()  # the progress plugin reports to one caller per process
log = logging.getLogger(__name__)


# tools and languages ---------------------------------------------------------------------------


def missing_packages() -> list[str]:
    """The Debian packages whose programs OCR needs and this machine lacks."""
    return [package for program, package in PROGRAMS.items() if shutil.which(program) is None]


def installed_languages() -> list[str]:
    """The tesseract languages installed here ('eng', 'deu', ...), without the OSD model."""
    if shutil.which("tesseract") is None:
        return []
    from ocrmypdf._exec import tesseract  # only where tesseract exists

    return sorted(lang for lang in tesseract.get_languages() if lang != "osd")


def parse_languages(value: str | Iterable[str] | None, default: str = "eng") -> list[str]:
    """Languages as a list from 'eng+deu', 'eng,deu' or a list; `default` when none given."""
    if value is None or value == "" or value == []:
        value = default
    parts = value.replace(",", "+").split("+") if isinstance(value, str) else list(value)
    languages = [part.strip() for part in parts if part and part.strip()]
    return list(dict.fromkeys(languages)) or [default]


def check_ready(languages: list[str]) -> None:
    """Refuse with the exact install command when a program or a language is missing."""
    missing = missing_packages()
    if missing:
        raise PermanentError(
            f"OCR needs {', '.join(missing)}, which this worker does not have. "
            f"Install it on the worker (as root): {INSTALL_COMMAND}"
        )
    absent = [lang for lang in languages if lang not in installed_languages()]
    if absent:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in absent)
        raise PermanentError(
            f"The OCR language {', '.join(absent)} is not installed on this worker. "
            f"Install it (as root): apt-get install -y {packages}"
        )


# one file ----------------------------------------------------------------------------------


def ocr_file(
    path: Path,
    out: OutputFolder,
    *,
    languages: list[str],
    pdfa: bool = False,
    clean: bool = False,
    jobs: int = 0,
    page_timeout: float = PAGE_TIMEOUT,
    progress: Progress = no_progress,
    name: str | None = None,
) -> dict[str, Any]:
    """OCR one PDF or image into `<stem>-ocr.pdf` and `<stem>.txt`; returns the summary.

    Raises PermanentError with a sentence for a refused file, a missing tool or language.
    """
    path = Path(path)
    family = guard.check_file(path, None, name)
    if family not in ("pdf", "image"):
        raise PermanentError(f"OCR reads PDFs and images, not a {guard.label(family)}.")
    check_ready(languages)
    stem = stem_of(name or path)
    with tempfile.TemporaryDirectory(prefix="nexus-ocr-") as work:
        source = path if family == "pdf" else image_to_pdf(path, Path(work) / "image.pdf")
        with_text = pages_with_text(source)
        target = out.path(f"{stem}-ocr.pdf")
        pages = page_count(source)
        if len(with_text) == pages:
            shutil.copyfile(source, target)  # nothing to recognise: the file as it came
        else:
            run_ocrmypdf(source, target, languages, pdfa, clean, jobs, page_timeout, progress)
        text_pages = pdf.page_texts(target)
    summary = text_summary(out, f"{stem}.txt", "\f".join(text_pages), "\n\n".join(text_pages))
    summary.update(
        name=target.name,
        pages=pages,
        ocr_pages=pages - len(with_text),
        skipped_pages=[index + 1 for index in with_text][: pdf.MAX_LISTED_PAGES],
        languages=languages,
        pdfa=pdfa and len(with_text) < pages,
        notes=_notes(pages, with_text, pdfa),
    )
    return summary


def _notes(pages: int, with_text: list[int], pdfa: bool) -> list[str]:
    if len(with_text) == pages:
        return ["Every page already has a text layer: the PDF is returned unchanged."]
    if with_text:
        listed = ", ".join(str(index + 1) for index in with_text[:20])
        return [f"Pages that already had text were kept as they were (page {listed})."]
    return []


def ocr_files(
    paths: list[Path],
    out_dir: Path,
    *,
    names: list[str] | None = None,
    languages: list[str],
    pdfa: bool = False,
    clean: bool = False,
    jobs: int = 0,
    page_timeout: float = PAGE_TIMEOUT,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """OCR each file in order; with several files a refusal names the file it is about."""
    if not paths:
        raise PermanentError("Choose at least one PDF or image.")
    labels = names or [Path(p).name for p in paths]
    out = OutputFolder(out_dir)
    results = []
    for index, (path, label) in enumerate(zip(paths, labels)):
        step = file_progress(progress, index, len(paths), label)
        try:
            summary = ocr_file(path, out, languages=languages, pdfa=pdfa, clean=clean, jobs=jobs,
                               page_timeout=page_timeout, progress=step, name=label)
        except PermanentError as exc:
            raise PermanentError(f"{label}: {exc}" if len(paths) > 1 else str(exc)) from None
        results.append({"file": label, "type": "ocr", "operations": {"ocr": summary},
                        "warnings": summary["notes"]})
    progress(len(paths), len(paths), "Done")
    return {"files": results, "warnings": [w for r in results for w in r["warnings"]]}


# the parts ---------------------------------------------------------------------------------------


def pages_with_text(path: Path) -> list[int]:
    """0-based indexes of the pages that already have a text layer."""
    try:
        texts = pdf.page_texts(path)
    except PermanentError as exc:
        if str(exc) == pdf.PROTECTED:
            raise PermanentError(pdf.PROTECTED_FOR_OCR) from None
        raise
    return [index for index, text in enumerate(texts) if text.strip()]


def page_count(path: Path) -> int:
    with pdf.open_document(path) as document:
        return len(document)


def image_to_pdf(path: Path, target: Path) -> Path:
    """The image (every page of a multi-page TIFF) upright, as a lossless PDF at its DPI."""
    import img2pdf  # comes with OCRmyPDF, needed only here

    heif.register()
    frames: list[Path] = []
    with guard.pillow_limits(), Image.open(path) as image:
        dpi = _dpi(image)
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            if index >= MAX_IMAGE_PAGES:
                raise PermanentError(f"This image has more than {MAX_IMAGE_PAGES} pages.")
            upright = ImageOps.exif_transpose(frame)
            if upright.mode not in ("1", "L", "RGB"):
                upright = upright.convert("RGB")
            page = target.with_name(f"page-{index:04d}.png")
            upright.save(page, "PNG", dpi=(dpi, dpi))
            frames.append(page)
            if image.format != "TIFF":
                break  # an animation's later frames are not pages
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    target.write_bytes(img2pdf.convert([str(p) for p in frames], layout_fun=layout))
    return target


def _dpi(image: Image.Image) -> int:
    """The image's resolution, or 300 dpi when it has none or an implausible one."""
    value = image.info.get("dpi", (0, 0))[0]
    try:
        dpi = round(float(value))
    except (TypeError, ValueError):
        return DEFAULT_DPI
    return dpi if 70 <= dpi <= 1200 else DEFAULT_DPI


def run_ocrmypdf(
    source: Path,
    target: Path,
    languages: list[str],
    pdfa: bool,
    clean: bool,
    jobs: int,
    page_timeout: float,
    progress: Progress,
) -> None:
    """OCRmyPDF over the pages without text: deskewed and rotated, cleaned when asked.

    Cleaning (unpaper) helps badly speckled scans and doubles the time a page takes; the
    cleaned image is used for recognition only, the PDF keeps the original.
    """
    import ocrmypdf  # heavy, and the files queue never needs it
    from ocrmypdf import exceptions as ocr_errors

    from app.office import ocr_progress  # imports ocrmypdf

    def report(done: float, total: float, step: str) -> None:
        progress(int(done), int(total), f"OCR: page {min(int(done) + 1, int(total))} of "
                 f"{int(total)}" if done < total else "OCR: writing the PDF")

    limit = Image.MAX_IMAGE_PIXELS or guard.PILLOW_DEFAULT_MAX_PIXELS
    # PDF/A through OCRmyPDF's own writer: Ghostscript 10.0-10.02 (Debian 12's) corrupts
    # pages that keep their text, and OCRmyPDF refuses it for exactly this skip mode.
    with _ONE_AT_A_TIME, ocr_progress.reporting(report):
        try:
            ocrmypdf.ocr(
                source, target, language=languages, mode="skip", deskew=True, rotate_pages=True,
                clean=clean, output_type="pdfa" if pdfa else "pdf", pdfa_backend="internal",
                jobs=jobs or None,
                use_threads=True, progress_bar=True, tesseract_timeout=page_timeout,
                tesseract_non_ocr_timeout=page_timeout, max_image_mpixels=limit / 1e6,
                plugins=["app.office.ocr_progress"],
            )
        except ocr_errors.EncryptedPdfError:
            raise PermanentError(pdf.PROTECTED_FOR_OCR) from None
        except ocr_errors.DigitalSignatureError:
            raise PermanentError(
                "This PDF is digitally signed; adding a text layer would break the signature, "
                "so it was not changed."
            ) from None
        except ocr_errors.MissingDependencyError as exc:
            raise PermanentError(
                f"OCR is missing a program ({_first_line(exc)}). Install on the worker (as "
                f"root): {INSTALL_COMMAND}"
            ) from None
        except (ocr_errors.InputFileError, ocr_errors.UnsupportedImageFormatError,
                ocr_errors.DpiError) as exc:
            raise PermanentError(f"OCR could not read this file ({_first_line(exc)}).") from None
        except ocr_errors.PdfaConversionFailedError:
            raise PermanentError(
                "The text was recognised, but this PDF could not be made PDF/A. Run OCR again "
                "without PDF/A."
            ) from None
        except ocr_errors.SubprocessOutputError as exc:
            raise PermanentError(f"OCR failed on this file ({_first_line(exc)}).") from None


def _first_line(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "…"
