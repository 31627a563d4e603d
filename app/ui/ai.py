"""Widget groups of the AI page: the model picker, text sources, answers, conversations, usage.

Conversations and usage come from `app.ai.store`, always for the signed-in person: someone
else's conversation reads as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs
from app.ai import fields as field_rules
from app.ai import store
from app.ai.batch import BatchItem, items_from_csv
from app.ai.markdown import without_images
from app.ai.types import ProviderInfo
from app.auth import User
from app.errors import PermanentError
from app.registry import TERMINAL
from app.ui import job_panel, job_status, plural, record_label, table, when
from app.ui.pickers import pick_outputs

OFFLINE = "offline"
CONVERSATIONS_SHOWN = 30
USAGE_DAYS = 14
RECENT_JOBS = 20

Providers = Mapping[str, ProviderInfo]


# pickers ----------------------------------------------------------------------------------


def providers_caption(providers: Providers) -> None:
    """One line per configured provider: its label, its server, its models."""
    st.caption(
        " · ".join(
            f"**{p.label}**{f' at {p.base_url}' if p.base_url else ''}: {', '.join(p.models)}"
            for p in providers.values()
        )
    )


def model_picker(
    providers: Providers, key: str, allow_offline: bool = False
) -> tuple[str | None, str | None]:
    """(provider, model) chosen for the next request; the choice really switches the job."""
    names = list(providers) + ([OFFLINE] if allow_offline else [])
    if not names:
        return None, None
    left, right = st.columns(2)
    labels = {**{n: p.label for n, p in providers.items()}, OFFLINE: "Offline analyser"}
    provider = left.selectbox("Provider", names, format_func=labels.get, key=f"{key}-provider")
    if provider == OFFLINE:
        return OFFLINE, None
    info = providers[provider]
    # One model widget per provider: switching provider never carries a foreign model name over.
    model = right.selectbox(
        "Model",
        info.models,
        index=info.models.index(info.model),
        key=f"{key}-model-{provider}",
        accept_new_options=True,
        help="Type a model name to use one not in the list.",
    )
    return provider, model


def text_source(key: str, user: User) -> dict[str, Any] | None:
    """Pasted text, an upload, or one of my processed files, as the job's params (None: empty)."""
    choice = st.radio(
        "Text from",
        ["Paste", "Upload a file", "My processed files"],
        horizontal=True,
        key=f"{key}-source",
    )
    if choice == "Paste":
        text = st.text_area("Text", height=220, key=f"{key}-text")
        return {"text": text} if text.strip() else None
    if choice == "Upload a file":
        upload = st.file_uploader(
            "A text file, or a Word, PDF, PowerPoint or Excel file (its text is extracted on "
            "the files queue first)",
            type=["txt", "md", "csv", "json", "docx", "pdf", "pptx", "xlsx"],
            key=f"{key}-upload",
        )
        return {"_upload": upload} if upload else None
    picked = pick_outputs(user, f"{key}-mine", "Processed file", types=("text", "csv"))
    if not picked:
        st.caption("Extract text on the Files page first; its text outputs are listed here.")
        return None
    return {"source_job_id": picked[0].job_id, "output_name": picked[0].name}


def split_upload(params: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The params without the upload a text source may hold, and that upload as the files."""
    upload = params.pop("_upload", None)
    return params, [upload] if upload else []


def batch_preview(upload: Any) -> list[BatchItem]:
    """The prompts of an uploaded CSV, the first 20 shown; none (and the reason) when unreadable."""
    if upload is None:
        return []
    try:
        items = items_from_csv(upload.getvalue())
    except PermanentError as exc:
        st.error(str(exc))
        return []
    st.dataframe(
        pd.DataFrame([{"id": i.id or i.index + 1, "prompt": i.prompt} for i in items[:20]]),
        hide_index=True,
    )
    st.caption(f"{len(items)} prompts")
    return items


# jobs and their answers -------------------------------------------------------------------


def submit(
    job_key: str, kind: str, params: dict[str, Any], user: User, files: Sequence[Any] = ()
) -> None:
    """Queue a job for one section and remember it, so a rerun shows it rather than resubmits."""
    try:
        st.session_state[job_key] = jobs.submit(kind, params, files=files, user=user)
    except (PermanentError, ValueError) as exc:
        st.error(str(exc))


def show_job(job_key: str, user: User) -> None:
    """The section's latest job, live until it ends, then its answer."""
    if st.session_state.get(job_key):
        job_panel(st.session_state[job_key], user, lambda r: render_result(r, user))


def usage_line(usage: dict[str, Any] | None) -> str:
    """ "model · 1,234 in / 56 out tokens · $0.0012" for a job or a chat turn."""
    if not usage or not usage.get("requests"):
        return ""
    tokens = f"{usage['input_tokens']:,} in / {usage['output_tokens']:,} out tokens"
    if usage.get("cached_tokens"):
        tokens += f" ({usage['cached_tokens']:,} cached)"
    if usage.get("estimated_tokens"):
        tokens += " (estimated: the server sent no counts)"
    cost = usage.get("cost_usd")
    price = f"${cost:,.4f}" if cost is not None else "cost unknown for this model"
    calls = f" · {usage['requests']} calls" if usage["requests"] > 1 else ""
    return f"{usage['model']} · {tokens} · {price}{calls}"


def render_result(record: dict[str, Any], user: User) -> None:
    """An AI job's answer as Markdown, with its notes, its cut warning and its usage."""
    result = record.get("result") or {}
    if result.get("analysis_job"):
        st.info(result["text"])
        job_panel(result["analysis_job"], user, lambda r: render_result(r, user))
        return
    if result.get("operation") == "batch":
        render_batch(result)
        return
    if result.get("operation") == "extract_fields":
        render_fields(result)
        return
    st.markdown(without_images(result.get("text") or "_The model returned no text._"))
    for note in result.get("notes") or []:
        (st.warning if result.get("cut") else st.info)(note)
    if result.get("language"):
        stats = result.get("stats") or {}
        st.caption(
            f"Language: {result['language']['name']} · {stats.get('words', 0):,} words · "
            f"{stats.get('reading_minutes', 0)} min read"
        )
    line = usage_line(result.get("usage"))
    if line:
        st.caption(line)


def render_batch(result: dict[str, Any]) -> None:
    """A batch's counts, its first items as a table, its notes and its usage."""
    done, failed = st.columns(2)
    done.metric("Answered", f"{result['succeeded']} of {result['total']}")
    failed.metric("Failed", result["failed"])
    st.dataframe(
        pd.DataFrame([_batch_row(item) for item in result["items"]]),
        hide_index=True, width="stretch",
    )
    for note in result.get("notes") or []:
        st.info(note)
    st.caption(usage_line(result.get("usage")))


def _batch_row(item: dict[str, Any]) -> dict[str, Any]:
    cost = item.get("cost_usd")
    return {
        "Id": item["id"],
        "Prompt": item["prompt"],
        "Status": item["status"],
        "Attempts": item.get("attempts", 1),
        "Answer": item["answer"] or item["error"],
        "Model": item.get("model") or "—",
        "Tokens in / out": f"{item.get('input_tokens', 0):,} / {item.get('output_tokens', 0):,}",
        "Cost": f"${float(cost):,.6f}" if cost not in (None, "") else "unknown",
    }


# fields -----------------------------------------------------------------------------------

FIELD_SCHEMAS = {"invoice": "Invoice", "receipt": "Receipt", "custom": "My own fields"}
FIELD_UPLOAD_TYPES = ["pdf", "docx", "png", "jpg", "jpeg", "tif", "tiff", "webp", "heic",
                      "txt"]


def fields_form(providers: Providers, user: User) -> None:
    """Documents, a schema and a provider (offline allowed); Run queues one extract_fields job."""
    provider, model = model_picker(providers, "fields", allow_offline=True)
    uploads = st.file_uploader(
        "Invoices, receipts or forms: PDF, Word, images or text (scans are OCR'd first)",
        type=FIELD_UPLOAD_TYPES, accept_multiple_files=True, key="fields-upload",
    )
    schema = st.selectbox("Schema", list(FIELD_SCHEMAS), format_func=FIELD_SCHEMAS.get,
                          key="fields-schema")
    names: list[str] = []
    if schema == "custom":
        typed = st.text_input("Field names, separated by commas", key="fields-names",
                              placeholder="order number, delivery date, total")
        names = [n.strip() for n in typed.split(",") if n.strip()]
    ready = bool(uploads) and (schema != "custom" or bool(names))
    if st.button("Extract fields", type="primary", disabled=not ready, key="fields-go"):
        params = {"schema": schema, "fields": names or None,
                  "provider": provider or OFFLINE, "model": model}
        submit("fields-job", "extract_fields", params, user, list(uploads or []))
    show_job("fields-job", user)


def render_fields(result: dict[str, Any]) -> None:
    """Counts, the offline label, one row per file (no "None" cells), notes and usage."""
    done, failed = st.columns(2)
    done.metric("Read", f"{result['succeeded']} of {result['total']}")
    failed.metric("Failed", result["failed"])
    if result.get("offline"):
        st.info(result.get("label") or field_rules.OFFLINE_LABEL)
    st.dataframe(table(result["rows"], result.get("columns")), hide_index=True, width="stretch")
    for note in result.get("notes") or []:
        st.info(note)
    line = usage_line(result.get("usage"))
    if line:
        st.caption(line)


# conversations ----------------------------------------------------------------------------


def conversation_list(owner: str, providers: Providers) -> str | None:
    """My conversations, newest first, and a New button; returns the one to show (None: new)."""
    if st.button("New conversation", key="chat-new"):
        st.session_state.pop("chat-id", None)
        st.session_state.pop("chat-job", None)
    for conversation in store.list_conversations(owner, limit=CONVERSATIONS_SHOWN):
        label = f"{conversation['title']} · {when(conversation['updated_at'])}"
        st.button(label, key=f"conv-{conversation['id']}", width="stretch",
                  on_click=resume, args=(conversation, providers))
    return st.session_state.get("chat-id")


def resume(conversation: dict[str, Any], providers: Providers) -> None:
    """Open a conversation with the model it was held with, so the next turn goes there too."""
    st.session_state["chat-id"] = conversation["id"]
    st.session_state.pop("chat-job", None)
    provider, model = conversation.get("provider"), conversation.get("model")
    if provider in providers:
        st.session_state["chat-provider"] = provider
        if model:
            st.session_state[f"chat-model-{provider}"] = model


def conversation_view(conversation_id: str | None, owner: str) -> None:
    """Every message of my conversation in order, each answer with its usage."""
    conversation = store.owned_conversation(conversation_id, owner) if conversation_id else None
    for message in (conversation or {}).get("messages", []):
        with st.chat_message(message["role"]):
            st.markdown(without_images(message["content"]))
            if message["role"] == "assistant":
                st.caption(usage_line(message.get("usage")))


@st.fragment(run_every=1.0)
def pending_turn(user: User) -> None:
    """The turn being answered: my message, then the reply once the job finishes."""
    job_id = st.session_state.get("chat-job")
    record = jobs.get(job_id, user=user) if job_id else None
    if record is None:
        return
    if record["state"] in TERMINAL:
        st.session_state.pop("chat-job")
        if record["state"] == "SUCCESS":
            st.session_state["chat-id"] = record["result"]["conversation_id"]
        else:
            st.session_state["chat-error"] = record.get("error") or "The reply failed."
            # Kept, so a failed turn never loses what the person typed.
            st.session_state["chat-unsent"] = st.session_state.get("chat-pending-text", "")
        st.rerun()
    with st.chat_message("user"):
        st.markdown(without_images(st.session_state.get("chat-pending-text", "")))
    with st.chat_message("assistant"):
        if record["state"] == "RETRY":
            job_status(record)
        else:
            st.caption("Thinking…")


def failed_turn() -> str | None:
    """The last turn's error and the message it was for; the message when sent again."""
    error = st.session_state.get("chat-error")
    if not error:
        return None
    st.error(error)
    unsent = st.session_state.get("chat-unsent", "")
    if not unsent:
        st.session_state.pop("chat-error")
        return None
    text = st.text_area("Your message, not sent yet", unsent)
    if st.button("Send again", key="chat-resend", type="primary"):
        st.session_state.pop("chat-error")
        st.session_state.pop("chat-unsent")
        return text
    return None


# usage ------------------------------------------------------------------------------------


def usage_panel(user: User) -> None:
    """Today's cost, requests and tokens, the last two weeks by day and model, my recent jobs."""
    days = store.usage_by_day(USAGE_DAYS, owner=user.scope())
    table = pd.DataFrame([_usage_row(d) for d in days])
    today = days[0]
    spent, calls, tokens = st.columns(3)
    spent.metric("Cost today", f"${today['cost_usd']:,.4f}")
    calls.metric("Requests today", f"{today['requests']:,}")
    tokens.metric("Tokens today", f"{today['input_tokens'] + today['output_tokens']:,}")
    if today["unpriced_requests"]:
        st.caption(
            f"The cost leaves out {plural(today['unpriced_requests'], 'request')} to models "
            "with no price in the settings."
        )
    if any(d["requests"] for d in days):
        st.bar_chart(table.set_index("Day")["Cost (USD)"].iloc[::-1])
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.caption(f"No AI requests in the last {USAGE_DAYS} days.")
    if today["models"]:
        st.subheader("Today by model")
        st.dataframe(pd.DataFrame([_model_row(m) for m in today["models"]]),
                     hide_index=True, width="stretch")
    st.subheader("My recent AI jobs")
    recent = jobs.list(user=user, owner=user.id, queue="ai", limit=RECENT_JOBS).jobs
    st.dataframe(pd.DataFrame([_job_row(r) for r in recent]), hide_index=True, width="stretch")
    st.caption("Costs are estimates from the price table in settings; totals are by UTC day.")


def _usage_row(day: dict[str, Any]) -> dict[str, Any]:
    return {
        "Day": day["day"],
        "Requests": day["requests"],
        "Input tokens": day["input_tokens"],
        "Output tokens": day["output_tokens"],
        "Cached tokens": day["cached_tokens"],
        "Cost (USD)": round(day["cost_usd"], 4),
        "Unpriced requests": day["unpriced_requests"],
    }


def _model_row(entry: dict[str, Any]) -> dict[str, Any]:
    unpriced = entry.get("unpriced_requests", 0)
    return {
        "Provider": entry["provider"],
        "Model": entry["model"],
        "Requests": entry.get("requests", 0),
        "Input tokens": entry.get("input_tokens", 0),
        "Output tokens": entry.get("output_tokens", 0),
        "Cached tokens": entry.get("cached_tokens", 0),
        "Cost (USD)": "no price" if unpriced and not entry["cost_usd"]
        else f"{entry['cost_usd']:.4f}",
    }


def _job_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "Submitted": when(record["submitted_at"]),
        "Job": record["kind"],
        "State": record_label(record),
        "Usage": usage_line((record.get("result") or {}).get("usage")) or "—",
    }
