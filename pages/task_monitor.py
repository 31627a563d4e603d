"""Task Monitor: every queue, worker and job, live, with the actions to steer them."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app import jobs, monitor
from app.registry import TERMINAL, Page
from app.settings import QUEUES, get_settings
from app.ui import downloads, job_status, plural, when
from app.ui.client import client_address
from app.ui.monitor import (
    job_filters,
    job_links,
    job_metrics,
    job_rows,
    ping_buttons,
    queue_chart,
    queue_table,
    worker_table,
)
from app.ui.signin import current_user

PAGE_SIZE = 25
# The job the detail view opens next: a retry's new job, or a link in the retry chain.
FOLLOW = "follow_job"
USER = current_user()

st.title("Task Monitor")
controls = st.columns([1, 1, 4])
paused = controls[0].toggle("Pause", key="paused", help="Stop refreshing while you read.")
interval = controls[1].selectbox("Refresh every", [1, 2, 5, 10, 30], index=1, key="interval",
                                 format_func=lambda s: f"{s} s")
if USER.is_admin:
    controls[2].link_button("Open Flower ↗", get_settings().flower_address)
run_every = None if paused else interval


@st.fragment(run_every=run_every)
def queues_and_workers() -> None:
    st.subheader("Queues")
    queue_table(monitor.queue_stats())
    st.subheader("Workers")
    worker_table(monitor.workers())


def queue_history() -> None:
    st.subheader("Queue length over time")
    span = st.radio("Show", ["Last hour", "Last day"], horizontal=True, key="history_span")
    samples = monitor.history(3600 if span == "Last hour" else 86400)
    if not samples:
        st.caption("No samples yet: the maintenance worker stores one every minute.")
        return
    queue_chart(samples)


def turn_page(step: int) -> None:
    st.session_state.page_number = max(1, st.session_state.get("page_number", 1) + step)


@st.fragment(run_every=run_every)
def job_table(filters: dict) -> None:
    page_number = st.session_state.get("page_number", 1)
    page = jobs.list(
        **filters, user=USER, offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    for note in page.notes:
        st.caption(note)
    if not page.jobs:
        st.info("No jobs match these filters.")
        return
    st.caption(f"Page {page_number} · {shown_of(page)} · click a row to open it below")
    picks = st.session_state.setdefault("table_picks", 0)
    st.session_state.page_ids = [r["id"] for r in page.jobs]
    job_rows(page.jobs, key=f"jobs_table_{picks}", on_pick=open_picked)
    nav = st.columns([1, 1, 6])
    nav[0].button("◀ Newer", disabled=page_number == 1, key="newer",
                  on_click=turn_page, args=(-1,))
    nav[1].button("Older ▶", disabled=not page.has_more, key="older",
                  on_click=turn_page, args=(1,))
    if st.session_state.pop("row_picked", False):
        st.rerun()  # the whole page, so the detail view below opens the picked job


def shown_of(page: Page) -> str:
    """"3 jobs", "25 of 1,204 jobs", "25 of many jobs": never "3 shown of many"."""
    count = len(page.jobs)
    if page.offset == 0 and not page.has_more:
        return plural(count, "job")
    total = "many" if page.total is None else f"{page.total:,}"
    return f"{count} of {total} jobs"


def open_picked() -> None:
    """A row was clicked: open its job in the detail view, and start a fresh selection."""
    picks = st.session_state.table_picks
    rows = st.session_state[f"jobs_table_{picks}"]["selection"]["rows"]
    if rows:
        show_job(st.session_state.page_ids[rows[0]])
        st.session_state.table_picks = picks + 1
        st.session_state.row_picked = True


def job_detail() -> None:
    st.subheader("Job detail")
    if follow := st.session_state.pop(FOLLOW, None):
        # Set before the widget exists: a widget's value cannot change once it is drawn.
        st.session_state.detail_id = follow
    typed = st.text_input("Job id", key="detail_id",
                          placeholder="Click a row in the table above, or paste any job id")
    if job_id := typed.strip():
        live_job(job_id)


@st.fragment(run_every=run_every)
def live_job(job_id: str) -> None:
    if FOLLOW in st.session_state:
        # A button here reruns only this fragment, which would keep showing the old job:
        # rerun the whole page so job_detail opens the job to follow.
        st.rerun()
    record = jobs.get(job_id, user=USER)
    if record is None:
        st.warning(f"There is no job {job_id}.")
        return
    st.markdown(f"**{record['kind']}** · queue `{record['queue']}` · owner `{record['owner']}`")
    job_status(record)
    job_metrics(record)
    actions(record)
    st.markdown("**Parameters**")
    st.json(record.get("params") or {}, expanded=False)
    if record.get("result") is not None:
        st.markdown("**Result**")
        st.json(record["result"], expanded=False)
    if record.get("traceback"):
        with st.expander("Traceback"):
            st.code(record["traceback"])
    job_links(record, USER, open_job=show_job)
    downloads(job_id, USER, key_prefix="monitor")


def show_job(job_id: str) -> None:
    """Open `job_id` in the detail view on the next run (see job_detail)."""
    st.session_state[FOLLOW] = job_id


def retry_and_show(job_id: str) -> None:
    try:
        show_job(jobs.retry(job_id, user=USER))
    except ValueError as refused:  # e.g. a password Nexus no longer keeps must be given again
        st.session_state.retry_refused = str(refused)


def actions(record: dict) -> None:
    columns = st.columns(3)
    job_id = record["id"]
    if record["state"] not in TERMINAL:
        columns[0].button("Cancel job", key="act_cancel", on_click=jobs.cancel, args=(job_id,),
                          kwargs={"user": USER})
    if record["state"] in ("FAILURE", "REVOKED"):
        retried_by = record.get("retried_by")
        # One retry per job: a second click would queue a second copy of the same work.
        columns[1].button(
            "Retry job", key="act_retry", on_click=retry_and_show, args=(job_id,),
            disabled=bool(retried_by),
            help=f"Already retried as {retried_by}." if retried_by else None,
        )
    if refused := st.session_state.pop("retry_refused", None):
        st.error(refused)


def retry_one(job_id: str) -> str | None:
    """Retry a job; the sentence saying why not when it cannot be retried."""
    try:
        jobs.retry(job_id, user=USER)
    except ValueError as refused:
        return str(refused)
    return None


def bulk_actions(filters: dict) -> None:
    if not USER.is_admin:
        return
    with st.expander("Bulk actions"):
        if st.button("Retry every failed job matching the filters", key="retry_all"):
            page = jobs.list(**{**filters, "state": "FAILURE"}, user=USER, limit=500)
            refusals = [r for r in (retry_one(record["id"]) for record in page.jobs) if r]
            st.success(f"Resubmitted {plural(len(page.jobs) - len(refusals), 'failed job')}.")
            if refusals:
                st.warning(f"{plural(len(refusals), 'job')} not retried: {refusals[0]}")
        queue = st.selectbox("Queue to purge", QUEUES, key="purge_queue")
        confirm = st.checkbox(f"Yes, drop every waiting message in {queue}", key="purge_confirm")
        if st.button("Purge queue", disabled=not confirm, key="purge"):
            dropped = monitor.purge(queue, user=USER, client=client_address())
            st.success(f"Dropped {plural(dropped, 'waiting job')} from {queue}.")


def dead_letters() -> None:
    page = jobs.dead_letters(user=USER, limit=50)
    failed = plural(page.total, 'job')
    st.caption(f"{failed} failed for good: a permanent error, or no retries left.")
    for record in page.jobs:
        with st.container(border=True):
            cols = st.columns([4, 1, 1])
            finished = when(record["finished_at"])
            cols[0].markdown(f"**{record['kind']}** `{record['id']}` · {finished}"
                             f"  \n{record.get('error') or ''}")
            if cols[1].button("Requeue", key=f"dl_retry_{record['id']}"):
                refused = retry_one(record["id"])
                if not refused:
                    st.rerun()
                cols[0].error(refused)
            if cols[2].button("Dismiss", key=f"dl_dismiss_{record['id']}"):
                jobs.dismiss(record["id"], user=USER)
                st.rerun()


def beat_schedule() -> None:
    entries = monitor.beat_schedule()
    if not entries:
        st.caption("Beat has no periodic tasks yet.")
        return
    st.dataframe(pd.DataFrame([
        {
            "Entry": e["name"],
            "Task": e["task"].rsplit(".", 1)[-1],
            "Schedule": e["schedule"],
            "Enabled": "yes" if e["enabled"] else "paused",
            "Next run": when(e["next_run"]) if e["enabled"] else "—",
            "Last run": when(e["last_run"]),
            "Runs": e["runs"],
        }
        for e in entries
    ]), hide_index=True, width="stretch")


queues_and_workers()
queue_history()

st.subheader("Jobs")
filters = job_filters(USER)
if st.session_state.get("last_filters") != filters:
    st.session_state.last_filters = filters
    st.session_state.page_number = 1
job_table(filters)
bulk_actions(filters)
job_detail()

tabs = st.tabs(["Dead letters", "Test tasks", *(["Beat schedule"] if USER.is_admin else [])])
with tabs[0]:
    dead_letters()
with tabs[1]:
    ping_buttons(USER, open_job=show_job)
if USER.is_admin:
    with tabs[2]:
        beat_schedule()
st.caption(f"Rendered at {time.strftime('%H:%M:%S')}")
