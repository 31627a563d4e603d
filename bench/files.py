"""Files queue benchmarks, each against a baseline measured in the same run.

    .venv/bin/python bench/files.py [--pages 200] [--rows 200000] [--images 500] [--no-queue]
                                    [--repeats 2] [--no-per-file]

1. PDF text of a generated 200-page PDF: pypdfium2 (in process, and the whole CLI) against
   poppler's `pdftotext` (apt-get install -y poppler-utils). Target: at most 2x its time.
2. A 200,000 x 10 sheet to CSV: python-calamine streaming against openpyxl's normal (not
   read-only) load, each in a fresh child process so peak RSS is its own.
   Targets: at least 3x faster, peak RSS under 300 MB. A 400,000-row sheet shows the ceiling:
   past 64 MB of sheet XML the rows are streamed by openpyxl in read-only mode.
3. 500 small JPEG thumbnails: through a real files worker (a private redis-server and a
   2-process prefork worker started here), as one batch job (its files run in chunks, each
   file still its own child job) and as one job, taking turns, best of --repeats; images per
   second and the ratio. Target: the batch at 0.7x the one-job rate or better. A second worker
   with BATCH_FILES_PER_CHUNK=1 shows batches as they ran before chunks (one Celery task per
   file); --no-per-file skips it. The in-process rate with and without JPEG draft mode is
   shown for context.
Inputs are generated in a temporary folder and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder comes first on sys.path and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

PDF_TARGET_RATIO = 2.0
EXCEL_TARGET_SPEEDUP = 3.0
EXCEL_TARGET_RSS_MB = 300
PDF_REPEATS = 5
BATCH_TARGET_RATIO = 0.7


def best_of(repeats: int, *runs) -> list[float]:
    """The best time of each run, taking turns so a busy moment hits them alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            run()
            times[index].append(time.perf_counter() - started)
    return [min(t) for t in times]


def child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line, to which wall time is added."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


# PDF --------------------------------------------------------------------------------------------


def make_pdf(path: Path, pages: int) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    words = ["invoice", "total", "amount", "customer", "region", "quarter", "growth", "margin"]
    drawing = canvas.Canvas(str(path), pagesize=A4)
    for page in range(pages):
        for line in range(48):
            text = " ".join(words[(page + line + i) % len(words)] for i in range(12))
            drawing.drawString(50, 800 - line * 16, f"{page + 1}.{line + 1} {text}")
        drawing.showPage()
    drawing.save()


def bench_pdf(work: Path, pages: int) -> dict:
    source = work / "long.pdf"
    make_pdf(source, pages)
    pdftotext = shutil.which("pdftotext")
    if not pdftotext:
        raise SystemExit("pdftotext is missing: apt-get install -y poppler-utils")
    from app.office import pdf
    from app.office.outputs import OutputFolder

    def ours() -> None:
        with pdf.open_document(source) as document:
            pdf.extract_text(document, OutputFolder(work / "pdf-out"), "long")

    def poppler() -> None:
        subprocess.run([pdftotext, str(source), str(work / "poppler.txt")], check=True)

    ours_s, poppler_s = best_of(PDF_REPEATS, ours, poppler)
    [cli_s] = best_of(
        1,
        lambda: subprocess.run(
            [
                sys.executable,
                "-m",
                "app.office",
                str(source),
                "--ops",
                "extract_text",
                "--out",
                str(work / "pdf-cli"),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ),
    )
    return {
        "pages": pages,
        "pdftotext_s": poppler_s,
        "ours_in_process_s": ours_s,
        "ours_cli_s": cli_s,
        "ratio_in_process": ours_s / poppler_s,
        "ratio_cli": cli_s / poppler_s,
    }


# Excel ------------------------------------------------------------------------------------------

# Peak RSS is the kernel's VmHWM of the child: getrusage's ru_maxrss would carry over the
# parent's peak across fork and exec.
PEAK_RSS = """
def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

OURS_EXCEL = (
    PEAK_RSS
    + """
import json, sys, time
from pathlib import Path
from app.office import runner
runner.module_for("xlsx")  # imports, as a running worker already has them
started = time.perf_counter()
result = runner.process_file(Path(sys.argv[1]), Path(sys.argv[2]), expected="xlsx",
                             operations=["convert"], options={"formats": ["csv"]})
print(json.dumps({"seconds": time.perf_counter() - started,
                  "rows": result["operations"]["convert"]["sheets"][0]["rows"],
                  "peak_rss_mb": peak_rss_mb()}))
"""
)

OPENPYXL_EXCEL = (
    PEAK_RSS
    + """
import csv, json, sys, time
import openpyxl
started = time.perf_counter()
book = openpyxl.load_workbook(sys.argv[1])
loaded = time.perf_counter() - started
with open(sys.argv[2], "w", newline="") as handle:
    csv.writer(handle).writerows(book.active.iter_rows(values_only=True))
print(json.dumps({"load_seconds": loaded, "seconds": time.perf_counter() - started,
                  "peak_rss_mb": peak_rss_mb()}))
"""
)


def bench_excel(work: Path, rows: int, big_rows: int) -> dict:
    from tests.unit.office.samples import fast_workbook

    source = fast_workbook(work / "big.xlsx", rows)
    ours = child(OURS_EXCEL, str(source), str(work / "excel-out"))
    baseline = child(OPENPYXL_EXCEL, str(source), str(work / "openpyxl.csv"))
    source.unlink()
    huge: dict = {}
    if big_rows:
        # Past excel_stream.STREAM_ABOVE_BYTES of XML the sheet is streamed: the memory ceiling.
        bigger = fast_workbook(work / "bigger.xlsx", big_rows)
        huge = child(OURS_EXCEL, str(bigger), str(work / "excel-out-big"))
    return {
        "big_rows": huge.get("rows"),
        "big_s": huge.get("seconds"),
        "big_peak_rss_mb": huge.get("peak_rss_mb"),
        "rows": ours["rows"],
        "columns": 10,
        "ours_s": ours["seconds"],
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "openpyxl_load_s": baseline["load_seconds"],
        "openpyxl_load_and_csv_s": baseline["seconds"],
        "openpyxl_peak_rss_mb": baseline["peak_rss_mb"],
        "speedup_vs_load": baseline["load_seconds"] / ours["seconds"],
    }


# thumbnails -------------------------------------------------------------------------------------


def make_images(folder: Path, count: int) -> list[Path]:
    """Photo-like 800x600 JPEGs: noise over a gradient, so they do not compress to nothing."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    noise = Image.effect_noise((800, 600), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((800, 600)).convert("RGB")
    paths = []
    for index in range(count):
        picture = Image.blend(noise, gradient, (index % 10) / 10)
        path = folder / f"photo-{index:04d}.jpg"
        picture.save(path, quality=85)
        paths.append(path)
    return paths


def bench_thumbnails_in_process(work: Path, paths: list[Path]) -> dict:
    from PIL import Image, ImageOps

    from app.office import image
    from app.office.outputs import OutputFolder

    out = OutputFolder(work / "thumbs")
    started = time.perf_counter()
    for path in paths:
        image.thumbnail(path, out, 256)
    ours = time.perf_counter() - started

    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as picture:
            picture.load()  # a full decode, no draft
            small = ImageOps.exif_transpose(picture)
            small.thumbnail((256, 256))
            small.save(work / "plain.jpg")
    plain = time.perf_counter() - started
    return {"draft_images_per_s": len(paths) / ours, "full_decode_images_per_s": len(paths) / plain}


def bench_thumbnails_queue(work: Path, paths: list[Path], repeats: int, per_file: bool) -> dict:
    """A private Redis and files worker; the whole run goes through app.jobs."""
    from app.runtime import redis_server
    from app.settings import get_settings

    server = redis_server.start(work / "redis", appendonly=False)
    os.environ.update(
        REDIS_URL=server.url,
        STORAGE_DIR=str(work / "storage"),
        VAR_DIR=str(work / "var"),
        REGISTRY_PREFIX="benchfiles",
    )
    get_settings.cache_clear()
    from app import jobs
    from app.auth import User

    bench_user = User("bench@localhost", "Benchmark", is_admin=True)
    uploads = [(p.name, p.read_bytes()) for p in paths]

    def batch() -> tuple[float, float, float, float]:
        """Upload to result; recorded; its files' span (first start to last end); the end."""
        started = time.perf_counter()
        job_id = jobs.submit(
            "batch_process_files", {"operations": ["thumbnail"]}, files=uploads, user=bench_user
        )
        record = jobs.wait(job_id, timeout=1800, user=bench_user)
        seconds = time.perf_counter() - started
        assert record["state"] == "SUCCESS" and record["result"]["succeeded"] == len(paths), record
        children = jobs.children(job_id, user=bench_user)
        first = min(child["started_at"] for child in children)
        last = max(child["finished_at"] for child in children)
        return (seconds, record["finished_at"] - record["submitted_at"], last - first,
                record["finished_at"] - last)

    def one_job() -> tuple[float, float]:
        started = time.perf_counter()
        job_id = jobs.submit(
            "process_image", {"operations": ["thumbnail"]}, files=uploads, user=bench_user
        )
        record = jobs.wait(job_id, timeout=1800, user=bench_user)
        seconds = time.perf_counter() - started
        assert record["state"] == "SUCCESS", record["error"]
        return seconds, record["finished_at"] - record["submitted_at"]

    results: dict = {}
    try:
        worker = start_worker(work, server.url, "bench-files@localhost")
        try:
            # The first submit in a process imports every task module: keep that out of timing.
            warm = jobs.submit(
                "process_image", {"operations": ["info"]}, files=uploads[:1], user=bench_user
            )
            jobs.wait(warm, 120, user=bench_user)
            chunked, single = [], []
            for _ in range(repeats):  # taking turns, so a busy moment hits both alike
                chunked.append(batch())
                single.append(one_job())
        finally:
            stop_worker(worker)
        (batch_s, batch_recorded, files_s, end_s), (single_s, single_recorded) = (
            min(chunked), min(single))
        results.update(
            batch_images_per_s=len(paths) / batch_s,
            batch_s=batch_s,
            batch_recorded_s=batch_recorded,
            # Where the batch's time goes: its files, and its end (gathering their outputs).
            batch_files_s=files_s,
            batch_end_s=end_s,
            batch_runs_s=[run[0] for run in chunked],
            one_job_images_per_s=len(paths) / single_s,
            one_job_s=single_s,
            one_job_recorded_s=single_recorded,
            one_job_runs_s=[run[0] for run in single],
            ratio=single_s / batch_s,
        )
        if per_file:
            # Batches as they ran before chunks: one Celery task (and chord count) per file.
            worker = start_worker(work, server.url, "bench-per-file@localhost",
                                  {"BATCH_FILES_PER_CHUNK": "1"})
            try:
                per_file_s, *_ = batch()
            finally:
                stop_worker(worker)
            results.update(per_file_images_per_s=len(paths) / per_file_s, per_file_s=per_file_s)
    finally:
        server.stop()
    return results


def stop_worker(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)


def start_worker(
    work: Path, redis_url: str, hostname: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    import redis

    log = open(work / "worker.log", "ab")  # noqa: SIM115 - lives as long as the worker
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery_config",
            "worker",
            "-Q",
            "files,maintenance",
            "-P",
            "prefork",
            "-c",
            "2",
            "-n",
            hostname,
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while not client.exists(f"benchfiles:worker:{hostname}"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bench worker did not start; see {work / 'worker.log'}")
        time.sleep(0.2)
    return worker


# report -----------------------------------------------------------------------------------------


def report(results: dict) -> None:
    pdf, excel, thumbs = results.get("pdf"), results.get("excel"), results.get("thumbnails")
    if pdf:
        verdict = "met" if pdf["ratio_in_process"] <= PDF_TARGET_RATIO else "MISSED"
        print(
            f"PDF text, {pdf['pages']} pages: pdftotext {pdf['pdftotext_s']:.3f} s; "
            f"pypdfium2 {pdf['ours_in_process_s']:.3f} s in process "
            f"(ratio {pdf['ratio_in_process']:.2f}x, target <= {PDF_TARGET_RATIO}x: {verdict}); "
            f"whole CLI incl. Python start {pdf['ours_cli_s']:.3f} s "
            f"(ratio {pdf['ratio_cli']:.2f}x)"
        )
    if excel:
        fast = excel["speedup_vs_load"] >= EXCEL_TARGET_SPEEDUP
        small = excel["ours_peak_rss_mb"] < EXCEL_TARGET_RSS_MB
        print(
            f"Excel {excel['rows']:,} x {excel['columns']} to CSV: ours {excel['ours_s']:.2f} s, "
            f"peak RSS {excel['ours_peak_rss_mb']:.0f} MB; openpyxl normal load "
            f"{excel['openpyxl_load_s']:.2f} s ({excel['openpyxl_load_and_csv_s']:.2f} s with "
            f"CSV), peak RSS {excel['openpyxl_peak_rss_mb']:.0f} MB; "
            f"{excel['speedup_vs_load']:.1f}x faster (target >= {EXCEL_TARGET_SPEEDUP}x: "
            f"{'met' if fast else 'MISSED'}), RSS target < {EXCEL_TARGET_RSS_MB} MB: "
            f"{'met' if small else 'MISSED'}"
        )
        if excel.get("big_rows"):
            print(
                f"Excel {excel['big_rows']:,} x {excel['columns']} (streamed by openpyxl "
                f"read-only past 64 MB of XML): {excel['big_s']:.2f} s, peak RSS "
                f"{excel['big_peak_rss_mb']:.0f} MB"
            )
    if thumbs:
        line = (
            f"Thumbnails of {thumbs['images']} JPEGs (800x600 -> 256 px): in process "
            f"{thumbs['draft_images_per_s']:.0f} images/s with draft mode, "
            f"{thumbs['full_decode_images_per_s']:.0f}/s with a full decode"
        )
        if "batch_images_per_s" in thumbs:
            met = "met" if thumbs["ratio"] >= BATCH_TARGET_RATIO else "MISSED"
            line += (
                f"; through the files worker (2 processes), upload to result: "
                f"{thumbs['batch_images_per_s']:.1f} images/s as a chunked batch of one job per "
                f"image ({thumbs['batch_s']:.1f} s), {thumbs['one_job_images_per_s']:.1f} "
                f"images/s as one job ({thumbs['one_job_s']:.1f} s): "
                f"{thumbs['ratio']:.2f}x (target >= {BATCH_TARGET_RATIO}x: {met}); of the "
                f"batch, its files took {thumbs['batch_files_s']:.1f} s and its end "
                f"(gathering outputs) {thumbs['batch_end_s']:.1f} s"
            )
        if "per_file_images_per_s" in thumbs:
            line += (
                f"; before chunks, one Celery task per image: "
                f"{thumbs['per_file_images_per_s']:.1f} images/s ({thumbs['per_file_s']:.1f} s)"
            )
        print(line)
    print(json.dumps(results, default=lambda v: round(v, 4) if isinstance(v, float) else str(v)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--big-rows", type=int, default=400_000, help="0 skips the huge sheet")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--no-queue", action="store_true", help="skip the worker measurement")
    parser.add_argument("--repeats", type=int, default=2, help="turns of batch and one job")
    parser.add_argument("--no-per-file", action="store_true",
                        help="skip the batch with one Celery task per file (before chunks)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nexus-bench-files-"))
    results: dict = {}
    try:
        results["pdf"] = bench_pdf(work, args.pages)
        results["excel"] = bench_excel(work, args.rows, args.big_rows)
        paths = make_images(work / "images", args.images)
        results["thumbnails"] = {"images": len(paths), **bench_thumbnails_in_process(work, paths)}
        if not args.no_queue:
            results["thumbnails"].update(bench_thumbnails_queue(
                work, paths, max(1, args.repeats), not args.no_per_file))
    finally:
        report(results)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
