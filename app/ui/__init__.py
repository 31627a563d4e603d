"""Streamlit widgets every page shares: a job's state, progress, error and downloads.

Pages stay thin: they read widgets, call `app.jobs`, and draw a job with `job_panel`.
"""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs
from app.auth import User
from app.registry import TERMINAL
from app.ui import times
from app.words import plural

STATE_ICONS = {
    "QUEUED": "⏳",
    "STARTED": "▶️",
    "PROGRESS": "🔄",
    "RETRY": "🔁",
    "SUCCESS": "✅",
    "FAILURE": "❌",
    "REVOKED": "🚫",
}


def state_label(state: str) -> str:
    return f"{STATE_ICONS.get(state, '')} {state}".strip()


def table(rows: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """Rows ready to show: a missing value is an empty cell, never "None" or "nan"."""
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype(object).where(frame.notna(), "")


def record_label(record: dict[str, Any]) -> str:
    """A job's state as a person should read it: "Cancelling…" until its worker has stopped."""
    return "⏳ Cancelling…" if jobs.stopping(record) else state_label(record["state"])


def settled(record: dict[str, Any] | None) -> bool:
    """True once nothing more will change: finished, and, if cancelled, confirmed stopped."""
    return record is not None and record["state"] in TERMINAL and not jobs.stopping(record)


def fraction(record: dict[str, Any]) -> float:
    """How far along a job is, from 0.0 to 1.0."""
    if record["state"] == "SUCCESS":
        return 1.0
    progress = record.get("progress") or {}
    total = progress.get("total") or 0
    return min(1.0, max(0.0, progress.get("current", 0) / total)) if total else 0.0


def viewer_zone() -> tzinfo:
    """The time zone of the person's browser, else the server's."""
    return times.zone(st.context.timezone)


def when(timestamp: float | None) -> str:
    """A moment in the viewer's time zone, with how long ago or how soon it is."""
    return times.describe(timestamp, viewer_zone(), time.time())


def when_in(timestamp: float | None, zone_name: str | None) -> str:
    """`when`, plus the wall-clock time in `zone_name` when that zone's clock reads otherwise."""
    shown = when(timestamp)
    if not timestamp or not zone_name:
        return shown
    there = datetime.fromtimestamp(timestamp, times.zone(zone_name))
    here = datetime.fromtimestamp(timestamp, viewer_zone())
    if there.utcoffset() == here.utcoffset():
        return shown
    return f"{shown} · {there.strftime('%H:%M')} in {zone_name}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def timings(record: dict[str, Any]) -> tuple[float | None, float | None]:
    """(queue wait, run time) in seconds, None where the job has not got that far."""
    submitted, started, finished = (
        record.get("submitted_at"), record.get("started_at"), record.get("finished_at")
    )
    wait = started - submitted if started and submitted else None
    end = finished or (time.time() if started and record["state"] not in TERMINAL else None)
    run = end - started if started and end else None
    return wait, run


MAX_DOWNLOAD_BUTTONS = 20


def downloads(job_id: str, user: User, key_prefix: str = "dl") -> None:
    """A download button per output (the first 20), and one for all of them as a zip."""
    outputs = jobs.outputs(job_id, user=user)
    if not outputs:
        return
    shown = outputs[:MAX_DOWNLOAD_BUTTONS]
    hidden = len(outputs) - len(shown)
    st.caption(plural(len(outputs), "output file") + (f"; the zip holds all {len(outputs)}"
                                                   if hidden else ""))
    for output in shown:
        st.download_button(
            f"⬇ {output['name']} ({output['size']:,} bytes)",
            # A callable runs only when clicked: only real downloads are read and audited.
            data=lambda name=output["name"]: jobs.output_bytes(job_id, name, user=user),
            file_name=output["name"].rsplit("/", 1)[-1],
            key=f"{key_prefix}-{job_id}-{output['name']}",
        )
    if len(outputs) > 1:
        st.download_button(
            "⬇ All outputs (.zip)",
            data=lambda: jobs.zip_outputs(job_id, user=user),
            file_name=f"job-{job_id[:8]}-outputs.zip",
            mime="application/zip",
            key=f"{key_prefix}-{job_id}-zip",
        )


def job_status(record: dict[str, Any]) -> None:
    """State, progress bar and error of one job record."""
    progress = record.get("progress") or {}
    message = progress.get("message") or ""
    st.progress(fraction(record), text=f"{record_label(record)} {message}".strip())
    if jobs.stopping(record):
        st.info("Cancelling: waiting for the worker to confirm that the job has stopped.")
    elif record["state"] == "FAILURE" and record.get("error"):
        st.error(record["error"])
    elif record["state"] == "RETRY" and record.get("error"):
        st.warning(f"Retrying after: {record['error']}")
    elif record["state"] == "REVOKED":
        st.warning(record.get("error") or "Cancelled.")


def job_panel(
    job_id: str, user: User, render_result: Any = None, refresh: float = 1.0
) -> None:
    """Follow one job live until it finishes, then show its result and downloads.

    `render_result(record)` draws the result for people; without it the result shows as JSON.
    """

    live = not settled(jobs.get(job_id, user=user))

    # Only a running job refreshes itself; once it finishes, one full rerun redraws it still.
    @st.fragment(run_every=refresh if live else None)
    def _panel() -> None:
        record = jobs.get(job_id, user=user)
        if record is None:
            st.info("Waiting for the job to be recorded…")
            return
        if live and settled(record):
            st.rerun()
        st.caption(f"Job `{job_id}` · {record['kind']} · queue {record['queue']}")
        job_status(record)
        if record["state"] not in TERMINAL:
            if st.button("Cancel", key=f"cancel-{job_id}"):
                jobs.cancel(job_id, user=user)
            return
        if record["state"] == "SUCCESS":
            if render_result:
                render_result(record)
            elif record.get("result") is not None:
                st.json(record["result"], expanded=False)
        downloads(job_id, user)

    _panel()
