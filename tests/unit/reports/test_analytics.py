"""Column statistics, groups, top rows, time series and the findings of the offline summary."""

from __future__ import annotations

import pandas as pd
import pytest

from app.errors import PermanentError
from app.reports.analytics import AnalyticsOptions, analyse
from app.reports.analytics_report import analytics_report
from app.reports.summary import OFFLINE_SOURCE, findings, offline_summary
from tests.unit.reports.datasets import REGIONS, sales


def test_types_are_inferred_from_values() -> None:
    analysis, typed = analyse(sales(300), AnalyticsOptions())
    kinds = analysis.kinds
    assert kinds["amount"] == kinds["quantity"] == "number"
    assert kinds["ordered_at"] == "date"
    assert kinds["region"] == "text"
    assert kinds["nothing"] == "empty"
    assert pd.api.types.is_datetime64_any_dtype(typed["ordered_at"])


def test_mixed_column_counts_values_that_are_not_numbers() -> None:
    frame = pd.DataFrame({"mixed": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "ten"] * 10})
    analysis, _ = analyse(frame, AnalyticsOptions())
    assert analysis.kinds["mixed"] == "number"
    assert analysis.invalid == {"mixed": 10}
    stats = analysis.columns[0]
    assert stats["sum"] == pytest.approx(450)


def test_column_statistics_match_pandas() -> None:
    frame = sales(400)
    analysis, _ = analyse(frame, AnalyticsOptions())
    amount = next(c for c in analysis.columns if c["column"] == "amount")
    assert amount["mean"] == pytest.approx(frame["amount"].mean())
    assert amount["median"] == pytest.approx(frame["amount"].median())
    assert amount["max"] == pytest.approx(frame["amount"].max())
    assert amount["missing"] == 0
    assert next(c for c in analysis.columns if c["column"] == "nothing")["missing"] == 400


def test_groups_top_rows_and_time_series_are_chosen_automatically() -> None:
    frame = sales(500)
    analysis, _ = analyse(frame, AnalyticsOptions(top_n=3))
    assert analysis.group_by == "region"
    assert analysis.value_column == "amount"  # order_id is recognised as an identifier
    assert analysis.date_column == "ordered_at"
    expected = frame.groupby("region")["amount"].sum().sort_values(ascending=False)
    assert analysis.groups.index.tolist() == expected.index[:3].tolist()
    assert analysis.groups["sum"].tolist() == pytest.approx(expected.iloc[:3].tolist())
    assert analysis.top_rows["amount"].tolist() == sorted(frame["amount"], reverse=True)[:3]
    assert analysis.period == "month"
    assert analysis.time_series["count"].sum() == 500


def test_explicit_columns_and_unknown_column() -> None:
    analysis, _ = analyse(sales(100), AnalyticsOptions(group_by="note", value_column="quantity"))
    assert (analysis.group_by, analysis.value_column) == ("note", "quantity")
    with pytest.raises(PermanentError, match="no column called 'missing'"):
        analyse(sales(10), AnalyticsOptions(group_by="missing"))


def test_report_holds_every_section_and_a_bounded_sample() -> None:
    report, _ = analytics_report(sales(300), AnalyticsOptions(sample_rows=20), source_name="s.csv")
    titles = [s.title for s in report.sections]
    assert titles[0] == "Column statistics"
    assert any(t.startswith("Groups") for t in titles)
    assert any(t.startswith("Over time") for t in titles)
    assert {c.kind for c in report.charts()} == {"bar", "line", "histogram"}
    assert len(report.sample.rows) == 20
    assert "Showing 20 of 300 rows" in report.sample.note
    assert report.data.row_count == 300


def test_a_table_without_numbers_or_dates_still_reports() -> None:
    frame = pd.DataFrame({"word": ["a", "b", "a", None], "blank": [None] * 4})
    report, analysis = analytics_report(frame, AnalyticsOptions())
    assert analysis.value_column is None and analysis.time_series is None
    assert [c.kind for c in report.charts()] == ["bar"]  # counts per word


def test_offline_summary_states_findings_and_its_source() -> None:
    _, analysis = analytics_report(sales(500), AnalyticsOptions())
    facts = findings(analysis)
    assert facts[0] == "The data has 500 rows and 8 columns (3 numeric, 3 text, 1 date)."
    assert any("entirely empty: nothing" in f for f in facts)
    assert any(f"'{name}' leads" in " ".join(facts) for name in REGIONS)
    summary = offline_summary(analysis)
    assert summary.source == OFFLINE_SOURCE
    assert "500 rows" in summary.text
