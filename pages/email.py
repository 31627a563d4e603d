"""Email: compose, bulk sends from a CSV, scheduled mail, notifications, the outbox and the inbox.

Sending goes through `app.jobs` onto the email queue. Previews render here with the same pure
template code the workers use, so what you preview is what is sent.
"""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app import audit, jobs, storage
from app.errors import PermanentError
from app.mail import inbox, notifications
from app.mail.recipients import RecipientList, load_csv
from app.mail.render import MessageTemplate
from app.mail.safehtml import sanitise_html
from app.mail.schedule import due_at, zone_names
from app.mail_state import ScheduleStore, SendLedger
from app.quotas import QuotaExceeded
from app.settings import get_settings
from app.ui import job_panel, job_status, when
from app.ui.client import client_address
from app.ui.pickers import as_ref, pick_outputs
from app.ui.signin import current_user

SEND_KINDS = ("send_email", "send_bulk_emails", "send_notification", "send_scheduled_email")
KIND_LABELS = {
    "send_email": "Message",
    "send_bulk_emails": "Bulk",
    "send_notification": "Notification",
    "send_scheduled_email": "Scheduled",
}
SETTINGS = get_settings()
USER = current_user()
OWNER = USER.id
INBOX_DIR = SETTINGS.var_dir / "mail"


# shared pieces -------------------------------------------------------------------------------


def fresh_key(name: str) -> str:
    """An idempotency key per form: a double click or a resubmit never sends twice."""
    if name not in st.session_state:
        st.session_state[name] = uuid.uuid4().hex
    return st.session_state[name]


def submitted(job_key: str, form_key: str, job_id: str) -> None:
    st.session_state[job_key] = job_id
    st.session_state.pop(form_key, None)


def pick_attachments(key: str) -> tuple[list[Any], list[dict]]:
    """(new uploads, refs of my existing files) chosen as attachments."""
    uploads = st.file_uploader("Attach files", accept_multiple_files=True, key=f"{key}-up")
    chosen = pick_outputs(USER, f"{key}-mine", "Attach outputs of my jobs", multiple=True)
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


def show_html(html: str) -> None:
    with st.container(border=True):
        st.html(sanitise_html(html))  # inbox mail is untrusted: no style, form or remote image


# compose --------------------------------------------------------------------------------------


def compose() -> None:
    left, right = st.columns(2)
    to = left.text_input(
        "To", placeholder="ann@example.com, Bob <bob@example.com>", key="compose-to"
    )
    cc = right.text_input("Cc", key="compose-cc")
    bcc = left.text_input(
        "Bcc", help="Bcc recipients get the message but are never shown.", key="compose-bcc"
    )
    reply_to = right.text_input("Reply-To", key="compose-reply-to")
    subject = st.text_input("Subject", key="compose-subject")
    text, html = body_inputs("compose", "<p>Hello,</p>\n<p></p>", "Hello,\n\n")
    if html:
        with st.expander("Preview"):
            show_html(html)
    uploads, refs = pick_attachments("compose")
    later = when_inputs("compose")
    label = "Schedule" if later else "Send"
    ready = bool(to.strip() and subject.strip())
    if st.button(label, type="primary", disabled=not ready, key="compose-send"):
        params = {
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "reply_to": reply_to,
            "subject": subject,
            "text": text,
            "html": html,
        }
        params["idempotency_key"] = fresh_key("compose-key")
        if later:
            kind = "send_scheduled_email"
            params |= {"send_at": later[0], "timezone": later[1]}
        else:
            kind = "send_email"
        try:
            job_id = jobs.submit(
                kind, params, files=[*uploads, *refs], files_param="attachments", user=USER
            )
        except (QuotaExceeded, PermanentError) as exc:
            st.error(str(exc))
            return
        submitted("compose-job", "compose-key", job_id)
    if st.session_state.get("compose-job"):
        job_panel(st.session_state["compose-job"], USER, render_result=show_sent)


def show_sent(record: dict[str, Any]) -> None:
    result = record.get("result") or {}
    if record["kind"] == "send_scheduled_email":
        st.success(f"Scheduled for {result.get('due_at')} ({result.get('timezone')}).")
        return
    note = (
        " (it had already been sent, so it was not sent again)"
        if result.get("already_sent")
        else ""
    )
    st.success(f"Sent to {', '.join(result.get('accepted', []))}{note}.")
    for address, reason in (result.get("refused") or {}).items():
        st.warning(f"{address} was refused: {reason}")


# bulk -----------------------------------------------------------------------------------------


def bulk() -> None:
    upload = st.file_uploader("Recipients (CSV with an email column)", type=["csv"], key="bulk-csv")
    listing = read_recipients(upload)
    if listing is None:
        st.caption("The first row names the columns; each column becomes a template variable.")
        return
    subject = st.text_input("Subject template", "Hello {{ name }}", key="bulk-subject")
    text, html = body_inputs("bulk", "<p>Dear {{ name }},</p>\n<p></p>", "Dear {{ name }},\n\n")
    template = MessageTemplate(subject=subject, text=text, html=html)
    if not preview_first(template, listing):
        return
    rate = st.number_input(
        "Throttle (messages per minute)",
        1,
        SETTINGS.email_rate_per_minute,
        min(60, SETTINGS.email_rate_per_minute),
        key="bulk-rate",
        help=f"All senders together never exceed {SETTINGS.email_rate_per_minute} a minute.",
    )
    uploads, refs = pick_attachments("bulk")
    if st.button(f"Send to {len(listing.recipients)} recipients", type="primary"):
        params = {
            "subject": subject,
            "text": text,
            "html": html,
            "rate_per_minute": int(rate),
            "idempotency_key": fresh_key("bulk-key"),
        }
        try:
            job_id = submit_bulk(params, upload, uploads, refs)
        except (QuotaExceeded, PermanentError) as exc:
            st.error(str(exc))
            return
        submitted("bulk-job", "bulk-key", job_id)
    if st.session_state.get("bulk-job"):
        job_panel(st.session_state["bulk-job"], USER, render_result=show_bulk_result)


def submit_bulk(params: dict, csv_upload: Any, uploads: list[Any], refs: list[dict]) -> str:
    """Queue a bulk send whose CSV and new attachments both land in the job's folder.

    `submit` stores one kind of file under one parameter; the attachments are a second kind,
    so they are stored first under the same pre-made job id and passed as refs.
    """
    job_id = jobs.new_job_id()
    stored = jobs.store_files(job_id, uploads, owner=OWNER) if uploads else []
    params = {**params, "attachments": [*stored, *refs]}
    try:
        return jobs.submit(
            "send_bulk_emails", params, files=[csv_upload], files_param="csv", job_id=job_id,
            user=USER,
        )
    except Exception:
        storage.delete_job_files(job_id)  # a refused job leaves no uploads behind
        raise


def read_recipients(upload: Any) -> RecipientList | None:
    if upload is None:
        return None
    try:
        listing = load_csv(upload.getvalue())
    except PermanentError as exc:
        st.error(str(exc))
        return None
    st.write(
        f"**{len(listing.recipients)}** recipients; variables: "
        + ", ".join(f"`{{{{ {c} }}}}`" for c in [*listing.columns, "name"])
    )
    if listing.rejected:
        with st.expander(f"{len(listing.rejected)} rows will be skipped"):
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


def show_bulk_result(record: dict[str, Any]) -> None:
    result = record.get("result") or {}
    cols = st.columns(3)
    cols[0].metric("Sent", result.get("sent", 0))
    cols[1].metric("Failed", result.get("failed", 0))
    cols[2].metric("Skipped (invalid)", result.get("skipped", 0))
    outcomes(record)


def outcomes(record: dict[str, Any]) -> None:
    """Every recipient's outcome, from the job's outcomes.csv when it has one."""
    try:
        data = jobs.output_bytes(record["id"], "outcomes.csv", user=USER, audited=False)
    except FileNotFoundError:
        rows = (record.get("result") or {}).get("recipients") or []
        frame = pd.DataFrame(rows)
    else:
        frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    if not frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch")


# notifications --------------------------------------------------------------------------------


def notifications_tab() -> None:
    names = sorted(notifications.NOTIFICATIONS)
    name = st.selectbox(
        "Template", names, format_func=lambda n: notifications.NOTIFICATIONS[n].title
    )
    spec = notifications.NOTIFICATIONS[name]
    context = {}
    for field in spec.fields:
        label = field.replace("_", " ").capitalize() + (
            "" if field in spec.required else " (optional)"
        )
        value = st.text_input(label, key=f"note-{name}-{field}")
        if value.strip():
            context[field] = value.strip()
    try:
        rendered = notifications.render_notification(name, context)
    except PermanentError as exc:
        st.info(str(exc))
        rendered = None
    if rendered:
        st.markdown(f"**Subject:** {rendered.subject}")
        html_tab, text_tab = st.tabs(["HTML", "Text"])
        with html_tab:
            show_html(rendered.html)
        with text_tab:
            st.text(rendered.text)
    to = st.text_input("Send to", key="note-to")
    if st.button("Send notification", type="primary", disabled=not (rendered and to.strip())):
        try:
            job_id = jobs.submit(
                "send_notification",
                {
                    "template": name,
                    "to": to,
                    "context": context,
                    "idempotency_key": fresh_key("note-key"),
                },
                user=USER,
            )
        except (QuotaExceeded, PermanentError) as exc:
            st.error(str(exc))
            return
        submitted("note-job", "note-key", job_id)
    if st.session_state.get("note-job"):
        job_panel(st.session_state["note-job"], USER, render_result=show_sent)


# outbox ---------------------------------------------------------------------------------------


def outbox() -> None:
    scheduled()
    st.subheader("Sent and failed")
    records = sent_jobs()
    if not records:
        st.caption("Nothing sent yet.")
        return
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
    picked = st.selectbox(
        "Details of",
        [None, *(r["id"] for r in records)],
        key="outbox-pick",
        format_func=lambda j: "—" if j is None else j,
    )
    if picked:
        details(jobs.get(picked, user=USER))


def sent_jobs(limit: int = 50) -> list[dict[str, Any]]:
    """My newest email jobs of every sending kind (beat's dispatcher runs are not mail)."""
    records = [
        r
        for kind in SEND_KINDS
        for r in jobs.list(user=USER, owner=OWNER, kind=kind, limit=limit).jobs
    ]
    return sorted(records, key=lambda r: r["submitted_at"], reverse=True)[:limit]


def summary(record: dict[str, Any]) -> str:
    result = record.get("result") or {}
    if record["state"] != "SUCCESS":
        return record.get("error") or ""
    if record["kind"] == "send_bulk_emails":
        return (
            f"{result.get('sent', 0)} sent, {result.get('failed', 0)} failed, "
            f"{result.get('skipped', 0)} skipped"
        )
    if record["kind"] == "send_scheduled_email":
        return f"scheduled for {result.get('due_at', '')}"
    return f"sent to {len(result.get('accepted', []))}"


def details(record: dict[str, Any] | None) -> None:
    if record is None:
        return
    job_status(record)
    if record["kind"] == "send_bulk_emails":
        outcomes(record)
    elif record["state"] == "SUCCESS":
        show_sent(record)


def scheduled() -> None:
    st.subheader("Scheduled")
    store = ScheduleStore()
    entries = store.list(USER.scope())
    if not entries:
        st.caption("No scheduled emails.")
        return
    for entry in entries:
        cols = st.columns([3, 3, 2, 2, 1])
        cols[0].write(entry.subject or "(no subject)")
        cols[1].write(entry.recipients)
        due = datetime.fromtimestamp(entry.due_at).strftime("%Y-%m-%d %H:%M")
        cols[2].write(f"{due} ({entry.timezone})")
        cols[3].write(entry.state)
        if entry.state == "scheduled" and cols[4].button("Cancel", key=f"cancel-{entry.id}"):
            outcome = store.cancel(entry.id, owner=USER.scope())
            audit.record(USER, "email.schedule.cancel", entry.id, outcome, client_address())
            if outcome != "cancelled":
                st.warning(f"It could not be cancelled: it is already {outcome}.")
            st.rerun()


# inbox ----------------------------------------------------------------------------------------


def my_messages() -> list[inbox.InboxMessage]:
    """The catcher's messages that my jobs sent; every message for an admin."""
    messages = inbox.list_messages(INBOX_DIR)
    if USER.is_admin:
        return messages
    mine = SendLedger().sent_by(OWNER, [m.message_id for m in messages if m.message_id])
    return [m for m in messages if m.message_id in mine]


def local_inbox() -> None:
    messages = my_messages()
    st.caption(
        f"Messages the local catcher received, stored under `{INBOX_DIR}`. "
        f"SMTP currently goes to {SETTINGS.smtp_host}:{SETTINGS.smtp_port}."
    )
    if not messages:
        st.info("The local inbox is empty.")
        return
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
    names = {f"{when(m.received_at)} · {m.subject}": m.name for m in messages}
    picked = st.selectbox("Open", list(names), key="inbox-pick")
    if picked:
        read(names[picked])
    if USER.is_admin and st.button("Empty the local inbox"):
        inbox.clear(INBOX_DIR)
        st.rerun()


def read(name: str) -> None:
    try:
        message = inbox.read_message(INBOX_DIR, name)
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
        filename, content_type, data = inbox.attachment_bytes(INBOX_DIR, name, index)
        st.download_button(
            f"⬇ {filename} ({part.size:,} bytes)",
            data,
            file_name=filename,
            mime=content_type,
            key=f"att-{name}-{index}",
        )


# the page -------------------------------------------------------------------------------------

st.title("Email")
st.caption(
    f"From {SETTINGS.mail_from} via {SETTINGS.smtp_host}:{SETTINGS.smtp_port} "
    f"({SETTINGS.smtp_security})."
)
compose_tab, bulk_tab, note_tab, outbox_tab, inbox_tab = st.tabs(
    ["Compose", "Bulk", "Notifications", "Outbox", "Local inbox"]
)
with compose_tab:
    compose()
with bulk_tab:
    bulk()
with note_tab:
    notifications_tab()
with outbox_tab:
    outbox()
with inbox_tab:
    local_inbox()
