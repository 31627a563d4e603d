"""Recurring-report definitions and their run's email, without beat or Redis."""

from __future__ import annotations

import datetime as dt

import pytest

from app.errors import PermanentError
from app.reports import history, recurring


def test_cron_needs_five_fields_and_comes_back_in_one_form() -> None:
    assert recurring.cron_fields("  0  8 * *   1 ") == "0 8 * * 1"
    with pytest.raises(PermanentError, match="five cron fields"):
        recurring.cron_fields("every monday")


def test_recipients_are_normalised_and_the_first_bad_one_is_named() -> None:
    assert recurring.check_recipients("ana@example.com; bo@example.com,") == [
        "ana@example.com",
        "bo@example.com",
    ]
    with pytest.raises(PermanentError, match=r"^not-an-address is not an email address"):
        recurring.check_recipients(["ana@example.com", "not-an-address"])


def test_unknown_kinds_are_refused_with_the_choices() -> None:
    recurring.check_kind("export")
    with pytest.raises(PermanentError, match="choose from analytics, summary, task_performance"):
        recurring.check_kind("weekly")


def test_a_run_takes_its_title_from_the_schedule_unless_the_params_set_one() -> None:
    definition = {"report": "analytics", "name": "Weekly", "params": {"top_n": 5}}
    assert recurring.run_params(definition) == {"top_n": 5, "title": "Weekly"}
    titled = {**definition, "params": {"title": "Mine"}}
    assert recurring.run_params(titled) == {"title": "Mine"}
    export = {**definition, "report": "export"}
    assert recurring.run_params(export) == {"top_n": 5}


def test_the_email_lists_figures_summary_and_attachments() -> None:
    definition = {"name": "Weekly", "cron": "0 8 * * 1"}
    result = {"facts": {"Rows": 3}, "summary": {"source": "the offline analyser", "text": "Ok."}}
    text = recurring.email_text(definition, result, [{"name": "report.pdf"}])
    assert text.splitlines() == [
        "Weekly", "", "Rows: 3", "", "Executive summary (the offline analyser):", "Ok.", "",
        "Attached: report.pdf", "",
        "Schedule: 0 8 * * 1 (UTC). Pause or delete it on the Reports page.",
    ]
    now = dt.datetime(2030, 5, 6, 8, 0, tzinfo=dt.UTC)
    assert recurring.email_subject(definition, now) == "Weekly — 2030-05-06 08:00 UTC"


class History:
    """A registry stand-in: every job in one period."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records

    def ids_between(self, start: float, end: float) -> list[str]:
        return [r["id"] for r in self.records]

    def get_many(self, job_ids: list[str]) -> list[dict]:
        return [r for r in self.records if r["id"] in job_ids]


def test_jobs_between_keeps_the_owners_jobs_of_the_kinds_asked_for() -> None:
    records = [
        {"id": "a", "kind": "ping", "queue": "maintenance", "owner": "ann", "secret": "x"},
        {"id": "b", "kind": "ping", "queue": "maintenance", "owner": "bo"},
        {"id": "c", "kind": "export_data", "queue": "reports", "owner": "ann"},
        {"id": "me", "kind": "ping", "queue": "maintenance", "owner": "ann"},
    ]
    begin, end = history.period(None, None, 1)
    found = history.jobs_between(
        History(records), begin, end, kinds=["ping"], exclude="me", owner="ann"
    )
    assert [j["id"] for j in found] == ["a"]
    assert set(found[0]) == set(history.JOB_FIELDS)


def test_a_period_must_start_before_it_ends() -> None:
    begin, end = history.period("2030-01-01", "2030-01-02T12:00:00+02:00", None)
    assert (begin.isoformat(), end.isoformat()) == (
        "2030-01-01T00:00:00+00:00", "2030-01-02T10:00:00+00:00"
    )
    with pytest.raises(PermanentError, match="start must be before its end"):
        history.period(100.0, 50.0, None)
    with pytest.raises(PermanentError, match="is not a date"):
        history.period("soon", None, None)
