"""Audit log: who did what, when and from where; searchable, newest first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app import audit
from app.ui.paging import pager
from app.ui.signin import current_user

PAGE_SIZE = 50
USER = current_user()

st.title("Audit log")
if not USER.is_admin:
    st.error("This page is for admins.")
    st.stop()

text_col, actor_col, action_col = st.columns(3)
text = text_col.text_input("Text", key="audit_text")
actor = actor_col.text_input("Who (email)", key="audit_actor")
action = action_col.selectbox("Action", ["", *audit.ACTIONS], key="audit_action",
                              format_func=lambda a: a or "Any")
today = datetime.now(UTC).date()
span = st.date_input("Dates (UTC)", (today - timedelta(days=7), today), key="audit_dates")
first, last = (span if isinstance(span, tuple) and len(span) == 2 else (span, span))
if isinstance(first, tuple):  # a range with only its start picked so far
    first = last = first[0] if first else today


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


# A stack of `before` ids: the last is where this page starts; an empty string is the newest.
filters = (text, actor, action, first, last)
if st.session_state.get("audit_filters") != filters:
    st.session_state["audit_filters"] = filters
    st.session_state["audit_pages"] = [""]
pages: list[str] = st.session_state["audit_pages"]

page = audit.search(
    text=text or None, actor=actor or None, action=action or None,
    since=day_start(first), until=day_start(last + timedelta(days=1)),
    limit=PAGE_SIZE, before=pages[-1] or None, user=USER,
)
for note in page.notes:
    st.caption(note)
if page.entries:
    st.dataframe(
        pd.DataFrame([
            {"When": e.when.strftime("%Y-%m-%d %H:%M:%S %Z"), "Who": e.actor,
             "Action": e.action, "Target": e.target, "Detail": e.detail, "From": e.client}
            for e in page.entries
        ]),
        hide_index=True,
        width="stretch",
    )
else:
    st.info("No entries match.")

pager("audit", pages, page.next_before)
