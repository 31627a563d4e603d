"""An HTML + XLSX + PDF report from a 100,000-row CSV: time and peak memory, old writer and new.

    .venv/bin/python bench/reports.py [--rows 100000] [--repeat 3]

The CSV is generated first; each build then runs in a fresh child process so its peak RSS
counts only that build (with the imports a worker would have). Measured in the same run:
- the report as Nexus writes it now (XLSX data sheet streamed by app.reports.xlsx_rows);
- the same report with the data sheet written cell by cell through XlsxWriter, the writer
  before issue 17 (the baseline the target compares to);
- the data sheet alone through openpyxl's write-only mode, the writer before that;
- pandas reading the CSV, as a yardstick of the machine's speed.
Builds alternate and each figure is the median of --repeat runs: the machine is shared.
Targets (issue 17): the report in under 5 s, with peak RSS no higher than the old writer's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder would come first on sys.path, and bench/email.py would hide the
# standard library's email package.
sys.path[0] = str(ROOT)

TARGET_SECONDS = 5.0
FORMATS = ("html", "xlsx", "pdf")
MODES = ("new", "cells", "openpyxl")


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


def build(source: Path, folder: Path, mode: str) -> dict:
    """Build the report from `source` the `mode` way; returns stage timings, sizes, peak RSS."""
    started, cpu_started = time.perf_counter(), time.process_time()
    stages: dict[str, float] = {}
    mark = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[name] = now - mark[0]
        mark[0] = now

    from app.reports import xlsx
    from app.reports.analytics import AnalyticsOptions
    from app.reports.analytics_report import analytics_report
    from app.reports.data import load_table
    from app.reports.render import write_report

    if mode == "cells":
        # The data sheet as it was written before issue 17: every cell through XlsxWriter.
        xlsx.write_data_sheet = xlsx.append_data_rows
    lap("imports")
    frame = load_table(source)
    lap("read")
    report, _ = analytics_report(frame, AnalyticsOptions(title="Bench"), source_name=source.name)
    lap("analyse")
    written = {}
    if mode == "openpyxl":
        openpyxl_data_sheet(report, folder / "openpyxl.xlsx")
        lap("xlsx")
    else:
        for fmt in FORMATS:
            written.update(write_report(report, [fmt], lambda n: folder / f"{mode}-{n}"))
            lap(fmt)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "stages": stages,
        "sizes": {fmt: path.stat().st_size for fmt, path in written.items()},
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def openpyxl_data_sheet(report, path: Path) -> None:
    """The same data sheet through openpyxl's write-only mode, the writer Nexus used first."""
    from openpyxl import Workbook

    from app.reports.cells import excel_value

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Data")
    sheet.append(report.data.columns)
    for row in report.data.rows():
        sheet.append([excel_value(v) for v in row])
    book.save(path)


def pandas_read(source: Path) -> float:
    import pandas as pd

    started = time.perf_counter()
    pd.read_csv(source)
    return time.perf_counter() - started


def run_child(source: Path, mode: str) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--build", str(source), "--mode", mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """Each figure the median over the runs (peak RSS: the largest, the honest bound)."""
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "stages": {s: statistics.median(r["stages"][s] for r in runs) for s in runs[0]["stages"]},
        "sizes": runs[-1]["sizes"],
        "peak_rss": max(r["peak_rss"] for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="new", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.build, args.build.parent, args.mode)))
        return 0

    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    reads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nexus-bench-reports-") as tmp:
        source = Path(tmp) / "sales.csv"
        generate(source, args.rows)
        print(
            f"CSV: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB; "
            f"median of {args.repeat} alternating runs"
        )
        for _ in range(args.repeat):
            reads.append(pandas_read(source))
            for mode in MODES:
                runs[mode].append(run_child(source, mode))
    results = {mode: median_run(r) for mode, r in runs.items()}
    return report(results, statistics.median(reads))


def report(results: dict[str, dict], read_seconds: float) -> int:
    new, old, first = results["new"], results["cells"], results["openpyxl"]
    print(f"  {'stage':<8} {'new':>8} {'old':>8} {'ratio':>7}")
    for stage, seconds in new["stages"].items():
        before = old["stages"][stage]
        print(f"  {stage:<8} {seconds:6.2f} s {before:6.2f} s {before / seconds:6.1f}x")
    for fmt, size in new["sizes"].items():
        print(f"  {fmt + ' size':<9} {size / 1e6:5.2f} MB (old {old['sizes'][fmt] / 1e6:.2f} MB)")
    seconds, before = new["seconds"], old["seconds"]
    print(
        f"xlsx:     streamed {new['stages']['xlsx']:.2f} s; XlsxWriter cell by cell "
        f"{old['stages']['xlsx']:.2f} s; openpyxl write-only, data sheet alone "
        f"{first['stages']['xlsx']:.2f} s"
    )
    print(f"yardstick: pandas reads the CSV in {read_seconds:.2f} s")
    print(
        f"report:   {seconds:.2f} s wall ({new['cpu_seconds']:.2f} s CPU) against "
        f"{before:.2f} s ({old['cpu_seconds']:.2f} s CPU) with the old writer: "
        f"{before / seconds:.1f}x faster"
    )
    rss, rss_before = new["peak_rss"], old["peak_rss"]
    print(
        f"peak RSS: {rss / 2**20:.0f} MB against {rss_before / 2**20:.0f} MB with the old "
        f"writer (openpyxl: {first['peak_rss'] / 2**20:.0f} MB)"
    )
    time_ok, rss_ok = seconds < TARGET_SECONDS, rss <= rss_before * 1.02  # 2%: allocator noise
    print(
        f"time:     {seconds:.2f} s against < {TARGET_SECONDS:.0f} s -> "
        f"{'OK' if time_ok else 'OVER'}"
    )
    print(
        f"memory:   {rss / 2**20:.0f} MB against <= {rss_before / 2**20:.0f} MB -> "
        f"{'OK' if rss_ok else 'OVER'}"
    )
    return 0 if time_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
