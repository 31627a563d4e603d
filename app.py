"""Nexus: the Streamlit entry point. Navigation over pages/, and the Home dashboard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import jobs, monitor
from app.connection import get_redis, is_outage
from app.errors import Unavailable
from app.settings import QUEUES, get_settings
from app.ui import STATE_ICONS, when
from app.ui.signin import current_user, require_sign_in, sidebar

ROOT = Path(__file__).resolve().parent
# Seconds a page waits before trying again while Redis is not reachable.
OUTAGE_RETRY_SECONDS = 3
PAGES = [
    ("pages/files.py", "Files", ":material/description:"),
    ("pages/ai.py", "AI", ":material/smart_toy:"),
    ("pages/email.py", "Email", ":material/mail:"),
    ("pages/reports.py", "Reports", ":material/analytics:"),
    ("pages/task_monitor.py", "Task Monitor", ":material/monitor_heart:"),
    ("pages/my_files.py", "My files", ":material/folder_open:"),
    ("pages/api_tokens.py", "API tokens", ":material/key:"),
    ("pages/admin.py", "Admin", ":material/admin_panel_settings:"),
    ("pages/audit.py", "Audit log", ":material/policy:"),
]


INTRODUCTION = """
Nexus hands office work to background workers, so you can close the tab while it runs and
come back to the results.

- **Files**: Word, Excel, PowerPoint and PDF documents, and photos and scans (JPEG, PNG,
  GIF, WebP, TIFF, BMP, HEIC, AVIF): extract text and tables, convert, merge, split, resize.
- **AI**: ask Claude, OpenAI or a local model to analyse, summarise, translate, write or
  chat, one request or a whole batch.
- **Email**: send one message, a bulk mailing from a CSV, a template, or mail scheduled
  for later, each delivered exactly once.
- **Reports**: HTML, Excel, PDF and JSON reports from your spreadsheets, once or on a
  schedule.
"""

FIRST_RUN = """
**New here?** Open **Files**, upload a document and press the button to run it. The job
appears below the form and on the **Task Monitor**, with its progress. When it is done,
download the result there, or later from **My files**.
"""


def home() -> None:
    st.title("Nexus")
    st.markdown(INTRODUCTION)
    st.info(FIRST_RUN, icon=":material/rocket_launch:")

    ok, message = monitor.redis_ok()
    if not ok:
        st.error(f"{message} Start it with `make run`, or set REDIS_URL.")
        return
    st.success(message)

    queue_health()
    todays_jobs()
    health_report()
    links()


def queue_health() -> None:
    st.subheader("Queues and workers")
    stats = monitor.queue_stats()
    rows = [
        {
            "Queue": name,
            "Workers": s.consumers,
            "Waiting": s.length,
            "Reserved": s.reserved,
            "Scheduled": s.scheduled,
        }
        for name, s in stats.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for queue in QUEUES:
        if stats[queue].consumers == 0:
            st.error(
                f"No worker reads the **{queue}** queue: its jobs will wait. "
                f"Start one with `{monitor.WORKER_COMMANDS[queue]}`."
            )


def todays_jobs() -> None:
    st.subheader("Today's jobs")
    counts = jobs.counts_today(user=current_user())
    columns = st.columns(len(counts))
    for column, (state, count) in zip(columns, counts.items()):
        column.metric(f"{STATE_ICONS[state]} {state.title()}", count)


def health_report() -> None:
    report = monitor.last_health()
    if report is None:
        return
    st.subheader("Last health check")
    checked = report["checked"]
    # A report stored by an older worker (kept for an hour) holds a preformatted string.
    at = when(checked) if isinstance(checked, float) else checked
    st.caption(f"Run by the maintenance worker {at}.")
    for problem in report["problems"]:
        st.error(problem)
    if not report["problems"]:
        st.success("Redis, workers and disk space are all fine.")


LINKS_PER_ROW = 5


def links() -> None:
    st.subheader("Go to")
    available = [(path, title, icon) for path, title, icon in PAGES if (ROOT / path).exists()]
    # Rows of five, so every page's name fits beside its icon.
    for start in range(0, len(available), LINKS_PER_ROW):
        row = available[start:start + LINKS_PER_ROW]
        for column, (path, title, icon) in zip(st.columns(LINKS_PER_ROW), row):
            column.page_link(path, label=title, icon=icon)
    if current_user().is_admin:
        st.link_button("Flower ↗", get_settings().flower_address)


def main() -> None:
    # A local file: an emoji or material icon would make browsers fetch it from a CDN.
    st.set_page_config(page_title="Nexus", page_icon=str(ROOT / "app/ui/assets/nexus.png"),
                       layout="wide")
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
    pages += [
        st.Page(path, title=title, icon=icon)
        for path, title, icon in PAGES
        if (ROOT / path).exists()
    ]
    try:
        # Before any page: a Redis that is down gets one sentence, not a traceback per
        # fragment; an outage that starts mid-page is caught below.
        get_redis().ping()
    except Exception as exc:
        if not is_outage(exc):
            raise
        # Pages declared but not run: without it Streamlit would run the page file by itself.
        st.navigation(pages, position="hidden")
        outage()
        return
    try:
        # Before navigation: a signed-out visitor gets the sign-in screen on every URL, deep
        # links too.
        sidebar(require_sign_in())
        st.navigation(pages).run()
    except Exception as exc:
        if not is_outage(exc):
            raise
        outage()


def outage() -> None:
    """Redis went away under a page: say so in one sentence, and try the page again soon."""
    st.warning(Unavailable.SENTENCE, icon=":material/cloud_off:")
    st.caption("Nothing you submitted is lost; this page reloads by itself.")
    retry_when_back()


@st.fragment(run_every=OUTAGE_RETRY_SECONDS)
def retry_when_back() -> None:
    """Every few seconds, from the browser's timer: the whole page again once Redis answers."""
    try:
        get_redis().ping()
    except Exception as exc:
        if not is_outage(exc):
            raise
        return
    st.rerun()


main()
