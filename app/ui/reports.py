"""Widget groups of the Reports page: a finished report's figures and preview, and the table
of recurring reports with their pause, resume and delete buttons.

Schedules come from `app.schedules` for the signed-in person (everyone's for an admin).
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from app import cron, jobs, schedules
from app.auth import User
from app.ui import when

METRIC_CHARS = 14  # longer values are cut off in a metric tile
PREVIEW_HEIGHT = 900


def report_result(record: dict[str, Any], user: User) -> None:
    """The finished report: key figures, the summary's source, and the HTML preview."""
    result = record.get("result") or {}
    if result.get("schedule_id"):
        schedule_saved(result)
        return
    key_figures(result.get("facts") or {})
    if result.get("summary"):
        st.caption(f"Executive summary written by {result['summary']['source']}")
    html_name = (result.get("outputs") or {}).get("html")
    if html_name:
        html = jobs.output_bytes(record["id"], html_name, user=user,
                                 audited=False).decode("utf-8")
        # The report forbids scripts itself (Content-Security-Policy), and its data is escaped.
        st.iframe(html, height=PREVIEW_HEIGHT)
    elif result.get("rows") is not None and "columns" in result:
        st.write(f"Exported {result['rows']:,} rows with {len(result['columns'])} columns.")


def schedule_saved(result: dict[str, Any]) -> None:
    """What a scheduling job stored, and a warning when its runs cannot email."""
    st.success(f"Scheduled '{result['name']}' ({result['cron']} UTC).")
    if not result.get("email_available"):
        st.warning(
            "Email is not set up here, so runs will keep their reports without sending them."
        )


def key_figures(facts: dict[str, Any]) -> None:
    """Short figures as metric tiles, four to a row; longer ones as lines of text."""
    short = {k: v for k, v in facts.items() if len(str(v)) <= METRIC_CHARS}
    if short:
        columns = st.columns(min(4, len(short)))
        for index, (label, value) in enumerate(short.items()):
            columns[index % len(columns)].metric(label, value)
    for label, value in facts.items():
        if label not in short:
            st.markdown(f"**{label}:** {value}")


def schedule_list(user: User, client: str = "") -> None:
    """Every recurring report with its next run, and buttons to pause, resume or delete it."""
    found = schedules.list_schedules(owner=user.scope())
    if not found:
        st.info("No recurring reports yet. Build a report with 'Run this report on a schedule'.")
        return
    st.dataframe(
        pd.DataFrame([_schedule_row(s) for s in found]), hide_index=True, width="stretch"
    )
    for s in found:
        name, toggle, remove = st.columns([4, 1, 1])
        name.write(f"**{s['name']}** · `{s['cron']}`")
        if s["enabled"] and toggle.button("Pause", key=f"pause-{s['id']}"):
            schedules.pause(s["id"], owner=user.scope(), actor=user, client=client)
            st.rerun()
        if not s["enabled"] and toggle.button("Resume", key=f"resume-{s['id']}"):
            schedules.resume(s["id"], owner=user.scope(), actor=user, client=client)
            st.rerun()
        if remove.button("Delete", key=f"delete-{s['id']}"):
            schedules.delete(s["id"], owner=user.scope(), actor=user, client=client)
            st.rerun()


def next_run(schedule: dict[str, Any]) -> str:
    """When it runs next; "due now" for a run beat has yet to start, never a time gone by."""
    due = schedule["next_run"]
    if due is None:
        return "paused" if not schedule["enabled"] else "—"
    return "due now" if due <= time.time() + 1 else when(due)


def _schedule_row(schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": schedule["name"],
        "Report": schedule["report"],
        "Schedule (UTC)": cron.describe_expression(schedule["cron"]),
        "Recipients": ", ".join(schedule["recipients"]) or "—",
        "State": "active" if schedule["enabled"] else "paused",
        "Next run": next_run(schedule),
        "Last run": when(schedule["last_run"]) if schedule["runs"] else "—",
        "Runs": schedule["runs"],
    }
