"""Email: compose, bulk sends from a CSV, scheduled mail, notifications, the outbox and the inbox.

Sending goes through `app.jobs` onto the email queue. Previews render here with the same pure
template code the workers use, so what you preview is what is sent.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import jobs, storage
from app.errors import PermanentError
from app.mail import inbox, notifications
from app.mail.render import MessageTemplate
from app.quotas import QuotaExceeded
from app.settings import get_settings
from app.ui import job_panel, when
from app.ui.mail import (
    body_inputs,
    fresh_key,
    pick_attachments,
    preview_first,
    read_recipients,
    show_bulk_result,
    show_html,
    show_rendered,
    show_sent,
    submitted,
    when_inputs,
)
from app.ui.mailboxes import (
    details,
    inbox_table,
    my_messages,
    read_message,
    scheduled_emails,
    sent_jobs,
    sent_table,
)
from app.ui.signin import current_user

SETTINGS = get_settings()
USER = current_user()
INBOX_DIR = SETTINGS.var_dir / "mail"


def submit(kind: str, params: dict[str, Any], **options: Any) -> str | None:
    """Queue one email job as me; None, with the reason shown, when it is refused."""
    try:
        return jobs.submit(kind, params, user=USER, **options)
    except (QuotaExceeded, PermanentError) as exc:
        st.error(str(exc))
        return None


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
    uploads, refs = pick_attachments(USER, "compose")
    later = when_inputs("compose")
    ready = bool(to.strip() and subject.strip())
    if st.button("Schedule" if later else "Send", type="primary", disabled=not ready,
                 key="compose-send"):
        params = {
            "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to, "subject": subject,
            "text": text, "html": html, "idempotency_key": fresh_key("compose-key"),
        }
        kind = "send_email"
        if later:
            kind = "send_scheduled_email"
            params |= {"send_at": later[0], "timezone": later[1]}
        job_id = submit(kind, params, files=[*uploads, *refs], files_param="attachments")
        if job_id is None:
            return
        submitted("compose-job", "compose-key", job_id)
    if st.session_state.get("compose-job"):
        job_panel(st.session_state["compose-job"], USER, render_result=show_sent)


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
    most = SETTINGS.email_rate_per_minute
    rate = st.number_input(
        "Throttle (messages per minute)", 1, most, min(60, most), key="bulk-rate",
        help=f"All senders together never exceed {most} a minute.",
    )
    uploads, refs = pick_attachments(USER, "bulk")
    if st.button(f"Send to {len(listing.recipients)} recipients", type="primary"):
        params = {
            "subject": subject, "text": text, "html": html, "rate_per_minute": int(rate),
            "idempotency_key": fresh_key("bulk-key"),
        }
        try:
            job_id = submit_bulk(params, upload, uploads, refs)
        except (QuotaExceeded, PermanentError) as exc:
            st.error(str(exc))
            return
        submitted("bulk-job", "bulk-key", job_id)
    if st.session_state.get("bulk-job"):
        job_panel(st.session_state["bulk-job"], USER,
                  render_result=lambda record: show_bulk_result(record, USER))


def submit_bulk(params: dict, csv_upload: Any, uploads: list[Any], refs: list[dict]) -> str:
    """Queue a bulk send whose CSV and new attachments both land in the job's folder.

    `submit` stores one kind of file under one parameter; the attachments are a second kind,
    so they are stored first under the same pre-made job id and passed as refs.
    """
    job_id = jobs.new_job_id()
    stored = jobs.store_files(job_id, uploads, owner=USER.id) if uploads else []
    params = {**params, "attachments": [*stored, *refs]}
    try:
        return jobs.submit(
            "send_bulk_emails", params, files=[csv_upload], files_param="csv", job_id=job_id,
            user=USER,
        )
    except Exception:
        storage.delete_job_files(job_id)  # a refused job leaves no uploads behind
        raise


# notifications --------------------------------------------------------------------------------


def notifications_tab() -> None:
    names = sorted(notifications.NOTIFICATIONS)
    name = st.selectbox(
        "Template", names, format_func=lambda n: notifications.NOTIFICATIONS[n].title
    )
    spec = notifications.NOTIFICATIONS[name]
    context = {}
    for field in spec.fields:
        optional = "" if field in spec.required else " (optional)"
        value = st.text_input(field.replace("_", " ").capitalize() + optional,
                              key=f"note-{name}-{field}")
        if value.strip():
            context[field] = value.strip()
    try:
        rendered = notifications.render_notification(name, context)
    except PermanentError as exc:
        st.info(str(exc))
        rendered = None
    if rendered:
        show_rendered(rendered)
    to = st.text_input("Send to", key="note-to")
    if st.button("Send notification", type="primary", disabled=not (rendered and to.strip())):
        params = {"template": name, "to": to, "context": context,
                  "idempotency_key": fresh_key("note-key")}
        job_id = submit("send_notification", params)
        if job_id is None:
            return
        submitted("note-job", "note-key", job_id)
    if st.session_state.get("note-job"):
        job_panel(st.session_state["note-job"], USER, render_result=show_sent)


# outbox ---------------------------------------------------------------------------------------


def outbox() -> None:
    st.subheader("Scheduled")
    scheduled_emails(USER)
    st.subheader("Sent and failed")
    records = sent_jobs(USER)
    if not records:
        st.caption("Nothing sent yet.")
        return
    sent_table(records)
    picked = st.selectbox("Details of", [None, *(r["id"] for r in records)], key="outbox-pick",
                          format_func=lambda j: "—" if j is None else j)
    if picked:
        details(jobs.get(picked, user=USER), USER)


# inbox ----------------------------------------------------------------------------------------


def local_inbox() -> None:
    messages = my_messages(USER, INBOX_DIR)
    st.caption(
        f"Messages the local catcher received, stored under `{INBOX_DIR}`. "
        f"SMTP currently goes to {SETTINGS.smtp_host}:{SETTINGS.smtp_port}."
    )
    if not messages:
        st.info("The local inbox is empty.")
        return
    inbox_table(messages)
    names = {f"{when(m.received_at)} · {m.subject}": m.name for m in messages}
    picked = st.selectbox("Open", list(names), key="inbox-pick")
    if picked:
        read_message(INBOX_DIR, names[picked])
    if USER.is_admin and st.button("Empty the local inbox"):
        inbox.clear(INBOX_DIR)
        st.rerun()


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
