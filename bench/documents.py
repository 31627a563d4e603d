"""Scanned documents and conversions, each against a baseline measured in the same run.

    .venv/bin/python bench/documents.py [--pages 6] [--files 8]

1. OCR pages per minute: app.office.ocr (OCRmyPDF: deskew, rotation, cleaning, a text layer,
   pages on both cores) against the plain `tesseract page.png out` command on the same
   300 dpi pages, one after the other. Target: at least 0.8x the pages per minute.
2. Office -> PDF: `libreoffice.convert` with `python -m app.runtime.unoserver` running
   against a cold `soffice --convert-to pdf` per file. Target: at least 3x faster. The route
   each conversion took is counted: where the warm LibreOffice cannot open a document (it
   aborts on Debian 12's nogui build), the conversion is made cold and the ratio shows it.
Inputs are generated in a temporary folder and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/email.py must not hide the standard library's email

OCR_TARGET = 0.8
CONVERT_TARGET = 3.0


def scanned_pages(folder: Path, count: int) -> tuple[Path, list[Path]]:
    """`count` skewed, speckled pages as PNGs and as one scanned PDF."""
    from tests.unit.office import samples

    pages = []
    for number in range(count):
        page = folder / f"page-{number:02d}.png"
        samples.scanned_page(seed=7 + number).save(page, dpi=(300, 300))
        pages.append(page)
    return samples.scanned_pdf(folder / "scan.pdf", pages=count), pages


def bench_ocr(folder: Path, count: int) -> tuple[float, float]:
    """(Nexus pages/min, tesseract pages/min)."""
    from app.office import ocr
    from app.office.outputs import OutputFolder

    scan, pages = scanned_pages(folder, count)
    started = time.perf_counter()
    for page in pages:
        subprocess.run(["tesseract", str(page), str(page.with_suffix("")), "-l", "eng"],
                       check=True, capture_output=True)
    plain = time.perf_counter() - started
    started = time.perf_counter()
    summary = ocr.ocr_file(scan, OutputFolder(folder / "out"), languages=["eng"],
                           jobs=os.cpu_count() or 2)
    ours = time.perf_counter() - started
    assert summary["ocr_pages"] == count
    return 60 * count / ours, 60 * count / plain


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, var: Path) -> subprocess.Popen:
    env = {**os.environ, "UNOSERVER_PORT": str(port), "VAR_DIR": str(var),
           "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "app.runtime.unoserver"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(5)  # unoserver answers once LibreOffice behind it is up
                return server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("unoserver did not start")


def office_files(folder: Path, count: int) -> list[Path]:
    from tests.unit.office import samples

    makers = (samples.word_document, samples.excel_workbook, samples.presentation)
    suffixes = (".docx", ".xlsx", ".pptx")
    return [makers[n % 3](folder / f"file-{n:02d}{suffixes[n % 3]}") for n in range(count)]


def bench_convert(folder: Path, count: int) -> tuple[float, float, Counter]:
    """(seconds per file warm, seconds per file cold, routes the warm run took)."""
    from app.office import libreoffice

    files = office_files(folder, count)
    started = time.perf_counter()
    for path in files:
        libreoffice.convert_cold(path, folder / f"{path.stem}-cold.pdf", 120)
    cold = (time.perf_counter() - started) / count
    port = free_port()
    os.environ["UNOSERVER_PORT"] = str(port)
    from app.settings import get_settings

    get_settings.cache_clear()
    server = start_server(port, folder / "var")
    try:
        routes: Counter = Counter()
        started = time.perf_counter()
        for path in files:
            routes[libreoffice.convert(path, folder / f"{path.stem}-warm.pdf")] += 1
        warm = (time.perf_counter() - started) / count
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return warm, cold, routes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--files", type=int, default=6)
    args = parser.parse_args()
    for program in ("tesseract", "soffice"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is missing: `make bench` installs it (as root).")
    folder = Path(tempfile.mkdtemp(prefix="nexus-bench-documents-"))
    os.environ.setdefault("VAR_DIR", str(folder / "var"))
    try:
        (folder / "ocr").mkdir()
        ours, plain = bench_ocr(folder / "ocr", args.pages)
        ratio = ours / plain
        print(f"OCR, {args.pages} scanned pages: Nexus {ours:.1f} pages/min, tesseract "
              f"{plain:.1f} pages/min, ratio {ratio:.2f} (target >= {OCR_TARGET})")
        (folder / "office").mkdir()
        warm, cold, routes = bench_convert(folder / "office", args.files)
        speedup = cold / warm
        print(f"Office -> PDF, {args.files} files: warm {warm:.2f} s/file "
              f"({dict(routes)}), cold soffice {cold:.2f} s/file, speed-up {speedup:.2f}x "
              f"(target >= {CONVERT_TARGET})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
