"""The Email page's outbox (scheduled, sent and failed mail) and the local catcher's inbox.

Everything here is scoped to the person at the browser: their jobs, their scheduled emails,
and the caught messages their jobs sent; an admin sees every message the catcher holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import audit, jobs
from app.auth import User
from app.connection import get_redis
from app.mail import inbox
from app.mail.store import ScheduledEmail, ScheduleStore, SendLedger
from app.ui import job_status, when, when_in
from app.ui.client import client_address
from app.ui.mail import outcomes, scheduled_for, show_html, show_sent

SEND_KINDS = ("send_email", "send_bulk_emails", "send_notification", "send_scheduled_email")
KIND_LABELS = {
    "send_email": "Message",
    "send_bulk_emails": "Bulk",
    "send_notification": "Notification",
    "send_scheduled_email": "Scheduled",
}

# outbox --------------------------------------------------------------------------------------


def scheduled_emails(user: User) -> None:
    """My scheduled emails, soonest first, each pending one with a Cancel button."""
    entries = ScheduleStore(get_redis()).list(user.scope())
    if not entries:
        st.caption("No scheduled emails.")
        return
    for entry in entries:
        cols = st.columns([3, 3, 2, 2, 1])
        cols[0].write(entry.subject or "(no subject)")
        cols[1].write(entry.recipients)
        cols[2].write(when_in(entry.due_at, entry.timezone))
        cols[3].write(entry.state)
        if entry.state == "scheduled" and cols[4].button("Cancel", key=f"cancel-{entry.id}"):
            cancel_scheduled(user, entry)
            st.rerun()


def cancel_scheduled(user: User, entry: ScheduledEmail) -> None:
    """Cancel one of my scheduled emails, audited; a warning when it had already gone."""
    outcome = ScheduleStore(get_redis()).cancel(entry.id, owner=user.scope())
    audit.record(user, "email.schedule.cancel", entry.id, outcome, client_address())
    if outcome != "cancelled":
        st.warning(f"It could not be cancelled: it is already {outcome}.")


def sent_jobs(user: User, limit: int = 50) -> list[dict[str, Any]]:
    """My newest email jobs of every sending kind (beat's dispatcher runs are not mail)."""
    records = [
        r
        for kind in SEND_KINDS
        for r in jobs.list(user=user, owner=user.id, kind=kind, limit=limit).jobs
    ]
    return sorted(records, key=lambda r: r["submitted_at"], reverse=True)[:limit]


def sent_table(records: list[dict[str, Any]]) -> None:
    """One row per email job: what, state, subject, when, and the result in a few words."""
    rows = [
        {
            "Job": r["id"],
            "What": KIND_LABELS[r["kind"]],
            "State": r["state"],
            "Subject": (r.get("params") or {}).get("subject")
            or (r.get("params") or {}).get("template", ""),
            "Submitted": when(r["submitted_at"]),
            "Result": summary(r),
        }
        for r in records
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def summary(record: dict[str, Any]) -> str:
    """An email job's result in a few words, or its error."""
    result = record.get("result") or {}
    if record["state"] != "SUCCESS":
        return record.get("error") or ""
    if record["kind"] == "send_bulk_emails":
        return (
            f"{result.get('sent', 0)} sent, {result.get('failed', 0)} failed, "
            f"{result.get('skipped', 0)} skipped"
        )
    if record["kind"] == "send_scheduled_email":
        return f"scheduled for {scheduled_for(result)}"
    return f"sent to {len(result.get('accepted', []))}"


def details(record: dict[str, Any] | None, user: User) -> None:
    """One email job: its state, then each recipient's outcome or who got the message."""
    if record is None:
        return
    job_status(record)
    if record["kind"] == "send_bulk_emails":
        outcomes(record, user)
    elif record["state"] == "SUCCESS":
        show_sent(record)


# inbox ---------------------------------------------------------------------------------------


def my_messages(user: User, folder: Path) -> list[inbox.InboxMessage]:
    """The catcher's messages that my jobs sent; every message for an admin."""
    messages = inbox.list_messages(folder)
    if user.is_admin:
        return messages
    ids = [m.message_id for m in messages if m.message_id]
    mine = SendLedger(get_redis()).sent_by(user.id, ids)
    return [m for m in messages if m.message_id in mine]


def inbox_table(messages: list[inbox.InboxMessage]) -> None:
    """One row per caught message: received, sender, headers' and envelope's recipients."""
    rows = [
        {
            "Received": when(m.received_at),
            "From": m.sender,
            "To": m.to,
            "Envelope recipients": ", ".join(m.rcpt_tos),
            "Subject": m.subject,
            "Size": m.size,
        }
        for m in messages
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def read_message(folder: Path, name: str) -> None:
    """One caught message as HTML, text, headers and source, with its attachments."""
    try:
        message = inbox.read_message(folder, name)
    except FileNotFoundError as exc:
        st.warning(str(exc))
        return
    tabs = st.tabs(["HTML", "Text", "Headers", "Source"])
    with tabs[0]:
        if message.html:
            show_html(message.html)
        else:
            st.caption("No HTML part.")
    with tabs[1]:
        st.text(message.text or "")
    with tabs[2]:
        st.dataframe(
            pd.DataFrame(message.headers, columns=["Header", "Value"]),
            hide_index=True,
            width="stretch",
        )
    with tabs[3]:
        st.code(message.raw.decode("utf-8", "replace")[:100_000], language=None)
    for index, part in enumerate(message.attachments):
        filename, content_type, data = inbox.attachment_bytes(folder, name, index)
        st.download_button(
            f"⬇ {filename} ({part.size:,} bytes)",
            data,
            file_name=filename,
            mime=content_type,
            key=f"att-{name}-{index}",
        )
