"""The 100,000-row case: HTML, XLSX and PDF from one CSV within the time budget."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader
from python_calamine import CalamineWorkbook

from app.reports.analytics import AnalyticsOptions
from app.reports.analytics_report import analytics_report
from app.reports.data import load_table
from app.reports.render import write_report
from tests.unit.reports.datasets import sales

ROWS = 100_000


def test_100k_rows_to_html_xlsx_pdf(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    sales(ROWS).to_csv(source, index=False)
    # How long this takes is bench/reports.py's business; this test is about what comes out.
    frame = load_table(source)
    report, _ = analytics_report(frame, AnalyticsOptions(), source_name=source.name)
    written = write_report(report, ["html", "xlsx", "pdf"], lambda n: tmp_path / n)

    data = CalamineWorkbook.from_path(str(written["xlsx"])).get_sheet_by_name("Data")
    assert data.height == ROWS + 1
    pages = PdfReader(written["pdf"]).pages
    assert len(pages) < 30  # summaries and a bounded sample, not 100,000 rows
    assert "Showing 100 of 100,000 rows" in "".join(p.extract_text() for p in pages[-3:])
    assert written["html"].stat().st_size < 2_000_000
