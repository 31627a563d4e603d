"""Task-performance numbers from job records given as plain dicts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.reports.performance import performance_report, summarize_jobs

T0 = 1_760_000_000.0


def job(i: int, kind: str, state: str, wait: float, run: float | None, **extra) -> dict:
    started = T0 + i + wait
    return {
        "id": f"job-{i}",
        "kind": kind,
        "queue": "files" if kind == "convert" else "email",
        "state": state,
        "owner": "local",
        "submitted_at": T0 + i,
        "started_at": started,
        "finished_at": started + run if run is not None else None,
        "retries": 0,
        "error": None,
        "retry_of": None,
        **extra,
    }


JOBS = [
    job(0, "convert", "SUCCESS", 0.5, 2.0),
    job(1, "convert", "SUCCESS", 1.5, 4.0, retries=2),
    job(2, "convert", "FAILURE", 0.1, 1.0, error="This file is not a valid Word document."),
    job(3, "send", "SUCCESS", 0.2, 0.5),
    job(4, "send", "FAILURE", 0.3, 0.2, error="The mail server refused the login."),
    job(5, "send", "FAILURE", 0.3, 0.3, error="The mail server refused the login."),
    job(6, "send", "REVOKED", 2.0, None),
    job(7, "send", "QUEUED", 0.0, None, started_at=None),
]


def test_headline_numbers() -> None:
    numbers = summarize_jobs(JOBS)
    assert numbers["jobs"] == 8
    assert numbers["by_state"] == {"SUCCESS": 3, "FAILURE": 3, "REVOKED": 1, "QUEUED": 1}
    assert numbers["by_kind"] == {"convert": 3, "send": 5}
    assert numbers["success_rate"] == pytest.approx(3 / 6)
    assert numbers["retries"] == 2 and numbers["retried_jobs"] == 1
    runs = [2.0, 4.0, 1.0, 0.5, 0.2, 0.3]
    assert numbers["run_p50"] == pytest.approx(np.percentile(runs, 50))
    assert numbers["run_p95"] == pytest.approx(np.percentile(runs, 95))
    waits = [0.5, 1.5, 0.1, 0.2, 0.3, 0.3, 2.0]
    assert numbers["wait_p95"] == pytest.approx(np.percentile(waits, 95))


def test_report_groups_failures_and_lists_the_slowest() -> None:
    start = dt.datetime.fromtimestamp(T0 - 60, dt.UTC)
    report, _ = performance_report(JOBS, start, start + dt.timedelta(hours=1), slowest=2)
    sections = {s.title: s for s in report.sections}
    failures = sections["Failures by error"].tables[0].rows
    assert failures[0][:3] == ["The mail server refused the login.", 2, "send"]
    assert failures[1][:2] == ["This file is not a valid Word document.", 1]
    slowest = sections["Slowest jobs"].tables[0].rows
    assert [r[0] for r in slowest] == ["job-1", "job-0"]
    by_kind = sections["By kind"].tables[0].rows
    assert by_kind[0][:6] == ["send", 5, 1, 2, 1, "33.3%"]
    assert {c.kind for c in report.charts()} == {"bar", "histogram", "line"}
    assert report.data.row_count == 8 and len(list(report.data.rows())) == 8


def test_no_jobs_makes_a_short_honest_report() -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    report, numbers = performance_report([], start, start + dt.timedelta(days=1))
    assert numbers["jobs"] == 0 and numbers["success_rate"] is None
    assert report.sections[0].paragraphs == ["No jobs were submitted in this period."]
