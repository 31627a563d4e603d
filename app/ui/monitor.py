"""The Task Monitor's widget groups: queue and worker tables, job filters and rows, job links."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app import jobs, monitor
from app.auth import User
from app.registry import STATES
from app.settings import QUEUES
from app.ui import duration, fraction, record_label, timings, viewer_zone, when
from app.words import plural


def queue_table(stats: dict[str, monitor.QueueStats]) -> None:
    """One row per queue, and an error naming the command for each queue nobody reads."""
    st.dataframe(pd.DataFrame([
        {
            "Queue": name,
            "Waiting": s.length,
            "By priority": ", ".join(f"p{p}: {n}" for p, n in sorted(s.by_priority.items())),
            "Reserved": s.reserved,
            "Scheduled (ETA)": s.scheduled,
            "Workers": s.consumers,
        }
        for name, s in stats.items()
    ]), hide_index=True, width="stretch")
    for name, s in stats.items():
        if s.consumers == 0:
            waiting = plural(s.length, "job")
            st.error(f"No worker reads **{name}**; {waiting} waiting. "
                     f"Start one: `{monitor.WORKER_COMMANDS[name]}`")


def worker_table(workers: list[monitor.Worker]) -> None:
    if not workers:
        st.warning("No worker has sent a heartbeat in the last minute.")
        return
    st.dataframe(pd.DataFrame([
        {
            "Worker": w.hostname,
            "Status": "🟢 online" if w.online else "🔴 offline",
            "Heartbeat": f"{w.age:.0f} s ago",
            "Queues": ", ".join(w.queues),
            "Pool": f"{w.pool} × {w.concurrency}",
            "Active": w.active,
            "Reserved": w.reserved,
            "Processed": w.processed,
            "Load": " ".join(f"{x:.2f}" for x in w.load),
        }
        for w in workers
    ]), hide_index=True, width="stretch")


def job_filters(user: User) -> dict[str, Any]:
    """The filter row above the job table, as keyword arguments for `jobs.list`."""
    columns = st.columns([1, 1, 1, 1, 2])
    state = columns[0].selectbox("State", ["All", *STATES], key="f_state")
    queue = columns[1].selectbox("Queue", ["All", *QUEUES], key="f_queue")
    kind = columns[2].selectbox("Kind", ["All", *jobs.kinds()], key="f_kind")
    owner = columns[3].text_input("Owner", key="f_owner") if user.is_admin else ""
    text = columns[4].text_input("Search name, parameters and errors", key="f_text")
    system = user.is_admin and st.toggle(
        "Show system jobs", key="f_system", help="Beat's dispatchers, maintenance, health checks."
    )
    return {
        "state": None if state == "All" else state,
        "queue": None if queue == "All" else queue,
        "kind": None if kind == "All" else kind,
        "owner": owner.strip().lower() or None,
        "text": text.strip() or None,
        "include_system": system,
    }


def job_rows(records: list[dict[str, Any]], key: str, on_pick: Any) -> None:
    """The job table, one row per record with progress as a bar; `on_pick()` on a row click."""
    rows = []
    for record in records:
        wait, run = timings(record)
        rows.append({
            "Title": record["title"],
            "Kind": record["kind"],
            "State": record_label(record),
            "Progress": fraction(record),
            "Message": (record.get("progress") or {}).get("message", ""),
            "Queue": record["queue"],
            "Owner": record["owner"],
            "Submitted": when(record["submitted_at"]),
            "Wait": duration(wait),
            "Run": duration(run),
            "Retries": record["retries"],
            "Error": record.get("error") or "",
            "Job": record["id"],
        })
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch", key=key,
        on_select=on_pick, selection_mode="single-row",
        column_config={
            "Title": st.column_config.TextColumn(width="medium"),
            "Progress": st.column_config.ProgressColumn(min_value=0, max_value=1),
            "Message": st.column_config.TextColumn(width="medium"),
            "Error": st.column_config.TextColumn(width="large"),
        },
    )


def job_metrics(record: dict[str, Any]) -> None:
    wait, run = timings(record)
    cols = st.columns(4)
    cols[0].metric("Queue wait", duration(wait))
    cols[1].metric("Run time", duration(run))
    cols[2].metric("Retries", record["retries"])
    cols[3].metric("Worker", record.get("worker") or "—")


def job_links(record: dict[str, Any], user: User, open_job: Any) -> None:
    """Buttons to the batch, the retry chain and the children; `open_job(id)` follows one."""
    links = {
        "parent": ("Parent batch", record.get("parent")),
        "retry_of": ("Retry of", record.get("retry_of")),
        "retried_by": ("Retried as", record.get("retried_by")),
    }
    for name, (label, other) in links.items():
        if other:
            st.button(f"{label}: {other}", key=f"link_{name}", on_click=open_job, args=(other,))
    children = jobs.children(record["id"], user=user)
    if children:
        st.markdown(f"**Children ({len(children)})**")
        st.dataframe(pd.DataFrame([
            {"Job": c["id"], "Kind": c["kind"], "State": record_label(c),
             "Error": c.get("error") or ""}
            for c in children
        ]), hide_index=True, width="stretch")


def ping_buttons(user: User, open_job: Any) -> None:
    """Per queue: a ping that times a round trip, and a sample job opened in the detail view."""
    st.caption("Ping sends a tiny job through a queue and times its way back.")
    columns = st.columns(len(QUEUES))
    for column, queue in zip(columns, QUEUES):
        if column.button(f"Ping {queue}", key=f"ping_{queue}"):
            st.session_state[f"pong_{queue}"] = monitor.ping(queue, timeout=5, user=user)
        column.button(f"Sample job on {queue}", key=f"sample_{queue}",
                      on_click=lambda q=queue: open_job(monitor.run_sample(q, user=user)))
        pong = st.session_state.get(f"pong_{queue}")
        if pong:
            if pong["ok"]:
                column.success(f"{pong['round_trip_ms']} ms via {pong['worker']}")
            else:
                column.error(pong["message"])


def queue_chart(samples: list[dict[str, float]]) -> None:
    """Waiting jobs per queue over time: whole numbers, clock times in the viewer's zone."""
    frame = pd.DataFrame(samples)
    # Wall-clock times shown as they are (a UTC scale), so the axis reads the viewer's clock.
    local = pd.to_datetime(frame.pop("t"), unit="s", utc=True).dt.tz_convert(viewer_zone())
    frame["time"] = local.dt.tz_localize(None)
    long = frame.melt("time", value_vars=[q for q in QUEUES if q in frame], var_name="Queue",
                      value_name="Waiting")
    chart = alt.Chart(long).mark_line(interpolate="step-after").encode(
        x=alt.X("time:T", title=None, scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%H:%M", labelOverlap=True)),
        y=alt.Y("Waiting:Q", title="Waiting jobs", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("Queue:N"),
        tooltip=[alt.Tooltip("time:T", format="%H:%M", formatType="utc", title="Time"),
                 "Queue", "Waiting"],
    )
    st.altair_chart(chart, width="stretch")
