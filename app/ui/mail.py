"""Widget groups of the Email page's forms: bodies, times, attachments, previews and results.

Previews render with the same pure template code the workers use, so what a person previews is
what is sent.
"""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs
from app.auth import User
from app.errors import PermanentError
from app.mail.bulk import OUTCOMES_FILE
from app.mail.recipients import RecipientList, load_csv
from app.mail.render import MessageTemplate, RenderedMessage
from app.mail.safehtml import sanitise_html
from app.mail.schedule import due_at, zone_names
from app.ui import plural, when_in
from app.ui.pickers import as_ref, pick_outputs

# form state ----------------------------------------------------------------------------------


def fresh_key(name: str) -> str:
    """An idempotency key per form: a double click or a resubmit never sends twice."""
    if name not in st.session_state:
        st.session_state[name] = uuid.uuid4().hex
    return st.session_state[name]


def submitted(job_key: str, form_key: str, job_id: str) -> None:
    """Remember the form's job and forget its key, so the next send is a new message."""
    st.session_state[job_key] = job_id
    st.session_state.pop(form_key, None)


# inputs --------------------------------------------------------------------------------------


def pick_attachments(user: User, key: str) -> tuple[list[Any], list[dict]]:
    """(new uploads, refs of my existing files) chosen as attachments."""
    uploads = st.file_uploader("Attach files", accept_multiple_files=True, key=f"{key}-up")
    chosen = pick_outputs(user, f"{key}-mine", "Attach outputs of my jobs", multiple=True)
    return list(uploads or []), [as_ref(item) for item in chosen]


def body_inputs(key: str, html_default: str, text_default: str) -> tuple[str | None, str | None]:
    """(text, html) from a format switch and one body editor."""
    kind = st.radio("Format", ["HTML", "Plain text"], horizontal=True, key=f"{key}-format")
    if kind == "HTML":
        html = st.text_area("HTML body", html_default, height=200, key=f"{key}-html")
        st.caption("A plain-text version is generated from the HTML for clients that want it.")
        return None, html
    return st.text_area("Text body", text_default, height=200, key=f"{key}-text"), None


def when_inputs(key: str) -> tuple[str, str] | None:
    """(local date-time, time zone) when the user picked a later time, else None."""
    later = st.toggle("Send later", key=f"{key}-later")
    if not later:
        return None
    left, middle, right = st.columns(3)
    tomorrow = date.today() + timedelta(days=1)
    day = left.date_input("Date", tomorrow, min_value=date.today(), key=f"{key}-day")
    at = middle.time_input("Time", time(9, 0), key=f"{key}-time")
    zones = zone_names()
    zone = right.selectbox("Time zone", zones, index=zones.index("UTC"), key=f"{key}-tz")
    try:
        moment = due_at(day, at, zone)
    except PermanentError as exc:
        st.error(str(exc))
        return None
    st.caption(f"Goes out at {moment:%Y-%m-%d %H:%M} UTC.")
    return f"{day:%Y-%m-%d}T{at:%H:%M}", zone


# previews ------------------------------------------------------------------------------------


def show_html(html: str) -> None:
    """An HTML body, sanitised: mail is untrusted, so no style, form or remote image."""
    with st.container(border=True):
        st.html(sanitise_html(html))


def show_rendered(rendered: RenderedMessage) -> None:
    """A rendered notification: its subject, then its HTML and text versions in tabs."""
    st.markdown(f"**Subject:** {rendered.subject}")
    html_tab, text_tab = st.tabs(["HTML", "Text"])
    with html_tab:
        show_html(rendered.html)
    with text_tab:
        st.text(rendered.text)


def read_recipients(upload: Any) -> RecipientList | None:
    """The recipients of an uploaded CSV, with its variables and skipped rows shown."""
    if upload is None:
        return None
    try:
        listing = load_csv(upload.getvalue())
    except PermanentError as exc:
        st.error(str(exc))
        return None
    variables = dict.fromkeys([*listing.columns, "name"])  # a CSV may have its own "name"
    st.write(
        f"**{plural(len(listing.recipients), 'recipient')}**; variables: "
        + ", ".join(f"`{{{{ {c} }}}}`" for c in variables)
    )
    if listing.rejected:
        with st.expander(f"{plural(len(listing.rejected), 'row')} will be skipped"):
            st.dataframe(pd.DataFrame([vars(r) for r in listing.rejected]), hide_index=True)
    return listing if listing.recipients else None


def preview_first(template: MessageTemplate, listing: RecipientList) -> bool:
    """Show the first recipient's message; False when the templates cannot be rendered."""
    first = listing.recipients[0]
    try:
        template.check_fields([*listing.columns, "email", "name"])
        rendered = template.render_preview(first.context())
    except PermanentError as exc:
        st.error(str(exc))
        return False
    with st.expander(f"Preview for {first.mailbox}", expanded=True):
        st.markdown(f"**Subject:** {rendered.subject}")
        if rendered.html:
            show_html(rendered.html)
        else:
            st.text(rendered.text)
    return True


# results -------------------------------------------------------------------------------------


def show_sent(record: dict[str, Any]) -> None:
    """The result of one message or scheduled email: who got it, who refused it."""
    result = record.get("result") or {}
    if record["kind"] == "send_scheduled_email":
        st.success(f"Scheduled for {scheduled_for(result)}.")
        return
    note = (
        " (it had already been sent, so it was not sent again)"
        if result.get("already_sent")
        else ""
    )
    st.success(f"Sent to {', '.join(result.get('accepted', []))}{note}.")
    for address, reason in (result.get("refused") or {}).items():
        st.warning(f"{address} was refused: {reason}")


def show_bulk_result(record: dict[str, Any], user: User) -> None:
    """A bulk send's counts, then every recipient's outcome."""
    result = record.get("result") or {}
    cols = st.columns(3)
    cols[0].metric("Sent", result.get("sent", 0))
    cols[1].metric("Failed", result.get("failed", 0))
    cols[2].metric("Skipped (invalid)", result.get("skipped", 0))
    outcomes(record, user)


def outcomes(record: dict[str, Any], user: User) -> None:
    """Every recipient's outcome, from the job's outcomes.csv when it has one."""
    try:
        data = jobs.output_bytes(record["id"], OUTCOMES_FILE, user=user, audited=False)
    except FileNotFoundError:
        rows = (record.get("result") or {}).get("recipients") or []
        frame = pd.DataFrame(rows)
    else:
        frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    if not frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch")


def scheduled_for(result: dict[str, Any]) -> str:
    """When a scheduled email goes out, read from its job's result."""
    due = result.get("due_at")
    if not due:
        return "a time not recorded"
    return when_in(datetime.fromisoformat(due).timestamp(), result.get("timezone"))
