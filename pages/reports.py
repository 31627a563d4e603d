"""Reports: build an analytics, summary, export or task-performance report, and manage schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from app import jobs
from app.errors import JobError
from app.settings import QUEUES
from app.ui import job_panel
from app.ui.client import client_address
from app.ui.pickers import as_ref, pick_outputs
from app.ui.reports import report_result, schedule_list
from app.ui.signin import current_user

REPORTS = {
    "generate_analytics_report": "Analytics report",
    "generate_summary_report": "Executive summary report",
    "export_data": "Export data",
    "generate_task_performance_report": "Task performance",
}
SCHEDULE_KIND = {
    "generate_analytics_report": "analytics",
    "generate_summary_report": "summary",
    "export_data": "export",
    "generate_task_performance_report": "task_performance",
}
REPORT_FORMATS = ["html", "xlsx", "pdf", "json"]
EXPORT_FORMATS = ["csv", "xlsx", "json", "xml"]
DATA_TYPES = ("csv", "xlsx", "json")
USER = current_user()
CLIENT = client_address()


def earlier_output() -> dict | None:
    """A CSV, XLSX or JSON output of a finished job, picked by the user."""
    picked = pick_outputs(USER, "report-data", "Output", types=DATA_TYPES)
    return as_ref(picked[0]) if picked else None


def pick_data() -> tuple[list[Any], bool]:
    """The data file the report reads, as an upload or a stored ref; and whether one is chosen."""
    source = st.radio("Data", ["Upload a file", "An earlier job's output"], horizontal=True)
    if source == "Upload a file":
        upload = st.file_uploader("CSV, Excel (.xlsx) or JSON", type=list(DATA_TYPES))
        return ([upload] if upload else []), upload is not None
    ref = earlier_output()
    return ([ref] if ref else []), ref is not None


def analytics_options(kind: str) -> dict[str, Any]:
    st.caption("Leave a column empty and the report chooses one from the data.")
    left, right = st.columns(2)
    params: dict[str, Any] = {
        "title": left.text_input("Title", REPORTS[kind]),
        "top_n": right.number_input("Top N", min_value=1, max_value=100, value=10),
        "group_by": left.text_input("Group by column", ""),
        "value_column": right.text_input("Value column", ""),
        "date_column": left.text_input("Date column", ""),
        "sheet": right.text_input("Sheet (XLSX only)", "", help="Empty: the first sheet."),
    }
    if kind == "generate_summary_report":
        params["provider"] = st.selectbox(
            "Summary written by",
            ["auto", "offline"],
            format_func=lambda p: {
                "auto": "The configured AI provider (offline analyser if none)",
                "offline": "The offline analyser",
            }[p],
        )
    return {k: v for k, v in params.items() if v not in ("", None)}


def performance_options() -> dict[str, Any]:
    left, right = st.columns(2)
    today = datetime.now(UTC).date()
    start = left.date_input("From (UTC)", today - timedelta(days=7))
    end = right.date_input("To (UTC, inclusive)", today)
    kinds = left.multiselect("Only these kinds", jobs.kinds())
    queues = right.multiselect("Only these queues", list(QUEUES))
    params: dict[str, Any] = {"title": st.text_input("Title", "Task performance")}
    if isinstance(start, date) and isinstance(end, date):
        params["start"] = datetime.combine(start, time.min, UTC).isoformat()
        params["end"] = datetime.combine(end + timedelta(days=1), time.min, UTC).isoformat()
    if kinds:
        params["kinds"] = kinds
    if queues:
        params["queues"] = queues
    return params


def recurring_options() -> dict[str, Any] | None:
    """Cron and recipients when the user wants the report on a schedule, else None."""
    if not st.toggle("Run this report on a schedule and email it"):
        return None
    left, right = st.columns(2)
    cron = left.text_input(
        "Cron (UTC)", "0 8 * * 1", help="minute hour day-of-month month day-of-week"
    )
    name = right.text_input("Schedule name", "Weekly report")
    recipients = st.text_input("Recipients", "", placeholder="ana@example.com, bo@example.com")
    return {"cron": cron, "name": name, "recipients": recipients}


def new_report() -> None:
    """The New report tab: which report, from which data, in which formats, once or recurring."""
    kind = st.selectbox("Report", list(REPORTS), format_func=REPORTS.__getitem__)
    files: list[Any] = []
    ready = True
    if kind != "generate_task_performance_report":
        files, ready = pick_data()
    if kind == "export_data":
        params: dict[str, Any] = {}
        formats = st.multiselect("Formats", EXPORT_FORMATS, default=["csv", "xlsx"])
    elif kind == "generate_task_performance_report":
        params = performance_options()
        formats = st.multiselect("Formats", REPORT_FORMATS, default=REPORT_FORMATS)
    else:
        params = analytics_options(kind)
        formats = st.multiselect("Formats", REPORT_FORMATS, default=REPORT_FORMATS)
    params["formats"] = formats
    recurring = recurring_options()
    if st.button(
        "Schedule" if recurring else "Build report",
        type="primary",
        disabled=not (ready and formats),
    ):
        submit(kind, params, files, recurring)
    job_id = st.session_state.get("report_job")
    if job_id:
        job_panel(job_id, USER, render_result=lambda record: report_result(record, USER))


def submit(
    kind: str, params: dict[str, Any], files: list[Any], recurring: dict[str, Any] | None
) -> None:
    """Queue the report, or the job that schedules it; a refusal shows as an error."""
    try:
        if recurring:
            job_id = jobs.submit(
                "schedule_recurring_report",
                {"report": SCHEDULE_KIND[kind], "params": params, **recurring},
                files=files,
                user=USER,
            )
        else:
            job_id = jobs.submit(kind, params, files=files, user=USER)
    except (JobError, ValueError) as exc:
        st.error(str(exc))
        return
    st.session_state["report_job"] = job_id


st.title("Reports")
build, recurring_tab = st.tabs(["New report", "Recurring reports"])
with build:
    new_report()
with recurring_tab:
    schedule_list(USER, CLIENT)
