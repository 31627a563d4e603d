"""An HTML + XLSX + PDF report from a 100,000-row CSV: time and peak memory against the targets.

    .venv/bin/python bench/reports.py [--rows 100000]

The CSV is generated first; the report is then built in a fresh child process so its peak RSS
counts only the build (with the imports a worker would have). The baseline, measured in the
same run, is pandas reading the same CSV; the report's time is also shown as a ratio of it.
Targets: under 30 s and under 1 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path, and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

TARGET_SECONDS = 30.0
TARGET_BYTES = 1024**3


def generate(path: Path, rows: int) -> None:
    """A sales-like table: ids, timestamps, unicode text, numbers, formulas, blanks."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "ordered_at": pd.date_range("2024-01-01", periods=rows, freq="5min").strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "region": rng.choice(["North", "Süd", "東京", "Ελλάδα", "<script>x</script>"], rows),
            "product": rng.choice([f"Product {i}" for i in range(40)], rows),
            "amount": rng.gamma(2.0, 50.0, rows).round(2),
            "quantity": rng.integers(1, 20, rows),
            "discount": rng.choice([0.0, 0.05, 0.1, np.nan], rows),
            "note": rng.choice(["=SUM(A1)", "ok", "-call back", "", "late"], rows),
            "empty": [None] * rows,
            "mixed": rng.choice(["1", "2.5", "n/a", "seven"], rows),
        }
    )
    frame.to_csv(path, index=False)


def build(source: Path, folder: Path) -> dict:
    """Build the three reports from `source`; returns stage timings, sizes and peak RSS."""
    started, cpu_started = time.perf_counter(), time.process_time()
    stages: dict[str, float] = {}

    def lap(name: str, since: list[float]) -> None:
        now = time.perf_counter()
        stages[name] = now - since[0]
        since[0] = now

    mark = [started]
    from app.reports.analytics import AnalyticsOptions
    from app.reports.analytics_report import analytics_report
    from app.reports.data import load_table
    from app.reports.render import write_report

    lap("imports", mark)
    frame = load_table(source)
    lap("read", mark)
    report, _ = analytics_report(frame, AnalyticsOptions(title="Bench"), source_name=source.name)
    lap("analyse", mark)
    written = {}
    for fmt in ("html", "xlsx", "pdf"):
        written.update(write_report(report, [fmt], lambda n: folder / n))
        lap(fmt, mark)
    openpyxl_seconds = openpyxl_data_sheet(report, folder / "openpyxl.xlsx")
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "stages": stages,
        "sizes": {fmt: path.stat().st_size for fmt, path in written.items()},
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "openpyxl_seconds": openpyxl_seconds,
    }


def openpyxl_data_sheet(report, path: Path) -> float:
    """The same data sheet through openpyxl's write-only mode, the writer Nexus used before."""
    from openpyxl import Workbook

    from app.reports.cells import excel_value

    started = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Data")
    sheet.append(report.data.columns)
    for row in report.data.rows():
        sheet.append([excel_value(v) for v in row])
    book.save(path)
    return time.perf_counter() - started


def baseline(source: Path) -> float:
    import pandas as pd

    started = time.perf_counter()
    pd.read_csv(source)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.build, args.build.parent)))
        return 0

    with tempfile.TemporaryDirectory(prefix="nexus-bench-reports-") as tmp:
        source = Path(tmp) / "sales.csv"
        generate(source, args.rows)
        print(f"CSV: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB")
        read_seconds = baseline(source)
        child = subprocess.run(
            [sys.executable, __file__, "--build", str(source)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    report(result, read_seconds)
    ok = result["seconds"] < TARGET_SECONDS and result["peak_rss"] < TARGET_BYTES
    return 0 if ok else 1


def report(result: dict, read_seconds: float) -> None:
    for stage, seconds in result["stages"].items():
        print(f"  {stage:<8} {seconds:6.2f} s")
    for fmt, size in result["sizes"].items():
        print(f"  {fmt}.{'':<4} {size / 1e6:6.2f} MB")
    seconds, rss = result["seconds"], result["peak_rss"]
    xlsx, before = result["stages"]["xlsx"], result["openpyxl_seconds"]
    print(f"xlsx:     {xlsx:.2f} s with XlsxWriter; openpyxl's data sheet alone "
          f"{before:.2f} s ({before / xlsx:.1f}x)")
    print(f"baseline: pandas reads the CSV in {read_seconds:.2f} s")
    print(
        f"report:   {seconds:.2f} s wall ({result['cpu_seconds']:.2f} s CPU), "
        f"{seconds / read_seconds:.0f}x the baseline"
    )
    print(
        f"time:     {seconds:.2f} s against < {TARGET_SECONDS:.0f} s -> "
        f"{'OK' if seconds < TARGET_SECONDS else 'OVER'}"
    )
    print(
        f"peak RSS: {rss / 2**20:.0f} MB against < 1024 MB -> "
        f"{'OK' if rss < TARGET_BYTES else 'OVER'}"
    )


if __name__ == "__main__":
    sys.exit(main())
