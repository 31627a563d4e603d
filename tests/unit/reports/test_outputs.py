"""The report files themselves, reopened the way a reader opens them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from app.reports.analytics import AnalyticsOptions
from app.reports.analytics_report import analytics_report
from app.reports.render import write_report
from app.reports.summary import offline_summary
from tests.unit.reports.datasets import sales

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    report, analysis = analytics_report(
        sales(600), AnalyticsOptions(title="Sales <b>2025</b>"), source_name="sales.csv"
    )
    report.summary = offline_summary(analysis)
    steps: list[tuple[int, int, str]] = []
    written = write_report(
        report,
        ["pdf", "json", "html", "xlsx"],
        lambda n: folder / n,
        progress=lambda *step: steps.append(step),
    )
    assert steps[-1] == (4, 4, "Reports written")
    return written


def test_html_escapes_data_and_loads_nothing_from_the_network(outputs) -> None:
    html = outputs["html"].read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Sales &lt;b&gt;2025&lt;/b&gt;" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'none'" in html
    assert html.count('src="data:image/svg+xml;base64,') == 3


def test_html_labels_the_executive_summary(outputs) -> None:
    html = outputs["html"].read_text(encoding="utf-8")
    assert "written by the offline analyser (no AI model was used)" in html
    assert "The data has 600 rows" in html


def test_xlsx_has_summary_charts_and_every_data_row(outputs) -> None:
    book = openpyxl.load_workbook(outputs["xlsx"])
    assert book.sheetnames == ["Summary", "Charts", "Data"]
    assert len(book["Charts"]._charts) == 3
    data = book["Data"]
    assert data.max_row == 601
    header = [c.value for c in data[1]]
    assert header[:3] == ["order_id", "ordered_at", "region"]
    summary_text = [c.value for row in book["Summary"].iter_rows() for c in row if c.value]
    assert "Summary statistics per column" in summary_text
    groups = {row[0]: row for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert isinstance(groups["North"][2], float)  # numbers stay numbers a reader can sum


def test_xlsx_neutralises_formulas_in_data(outputs) -> None:
    data = openpyxl.load_workbook(outputs["xlsx"])["Data"]
    column = [c.value for c in data["F"][1:]]  # the "note" column
    assert '\'=HYPERLINK("http://evil")' in column
    assert "'@SUM(A1)" in column
    assert not any(isinstance(v, str) and v[0] in "=+-@" for v in column if v)
    assert all(c.data_type != "f" for row in data.iter_rows() for c in row)


def test_xlsx_native_chart_types(outputs) -> None:
    charts = openpyxl.load_workbook(outputs["xlsx"])["Charts"]._charts
    assert sorted(type(c).__name__ for c in charts) == ["BarChart", "BarChart", "LineChart"]


def test_pdf_is_paginated_and_has_the_tables(outputs) -> None:
    reader = PdfReader(outputs["pdf"])
    assert len(reader.pages) >= 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    for header in ("Summary statistics per column", "Column", "Most common", "Median"):
        assert header in text
    assert "Page 1 of" in text
    assert "Showing 100 of 600 rows" in text
    assert "Süd" in text and "Ελλάδα" in text


def test_json_report_is_valid_and_small(outputs) -> None:
    data = json.loads(outputs["json"].read_text(encoding="utf-8"))
    assert data["title"] == "Sales <b>2025</b>"
    assert data["data"] == {"columns": data["data"]["columns"], "rows": 600}
    assert data["executive_summary"]["source"].startswith("the offline analyser")
    charts = [c for s in data["sections"] for c in s["charts"]]
    assert {c["kind"] for c in charts} == {"bar", "line", "histogram"}
