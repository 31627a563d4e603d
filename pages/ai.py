"""AI: chat, analyse, generate, translate and batch prompts on the ai queue, with usage by day.

Every request runs as a job through `app.jobs`; conversations and daily usage totals come from
`app.ai_state`. Without a provider the offline analyser still summarises and lists key points.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import streamlit as st

from app import ai_state, jobs
from app.ai import prompts
from app.ai.batch import MAX_ITEMS, items_from_csv
from app.ai.markdown import without_images
from app.ai.providers import NO_PROVIDER, configured
from app.errors import PermanentError
from app.registry import TERMINAL
from app.settings import get_settings
from app.ui import job_panel, job_status, when
from app.ui.pickers import pick_outputs
from app.ui.signin import current_user

SETTINGS = get_settings()
USER = current_user()
OWNER = USER.id
PROVIDERS = {p.name: p for p in configured(SETTINGS)}
OFFLINE = "offline"
LANGUAGES = [
    "English",
    "French",
    "German",
    "Spanish",
    "Italian",
    "Portuguese",
    "Dutch",
    "Polish",
    "Swedish",
    "Japanese",
    "Chinese (Simplified)",
    "Korean",
    "Arabic",
]
TONES = ["professional", "friendly", "formal", "persuasive", "casual", "enthusiastic"]


# shared pieces ----------------------------------------------------------------------------


def model_picker(key: str, allow_offline: bool = False) -> tuple[str | None, str | None]:
    """(provider, model) chosen for the next request; the choice really switches the job."""
    names = list(PROVIDERS) + ([OFFLINE] if allow_offline else [])
    if not names:
        return None, None
    left, right = st.columns(2)
    labels = {**{n: p.label for n, p in PROVIDERS.items()}, OFFLINE: "Offline analyser"}
    provider = left.selectbox("Provider", names, format_func=labels.get, key=f"{key}-provider")
    if provider == OFFLINE:
        return OFFLINE, None
    info = PROVIDERS[provider]
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


def render_result(record: dict[str, Any]) -> None:
    """An AI job's answer as Markdown, with its notes, its cut warning and its usage."""
    result = record.get("result") or {}
    if result.get("analysis_job"):
        st.info(result["text"])
        job_panel(result["analysis_job"], USER, render_result)
        return
    if result.get("operation") == "batch":
        render_batch(result)
        return
    if result.get("provider") == OFFLINE:
        st.caption(result.get("label", ""))
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
    done, failed = st.columns(2)
    done.metric("Answered", f"{result['succeeded']} of {result['total']}")
    failed.metric("Failed", result["failed"])
    st.dataframe(pd.DataFrame(result["items"]), hide_index=True, width="stretch")
    for note in result.get("notes") or []:
        st.info(note)
    st.caption(usage_line(result.get("usage")))


def submit(job_key: str, kind: str, params: dict[str, Any], files: list[Any] = ()) -> None:
    """Queue a job for this section and remember it, so a rerun shows it rather than resubmits."""
    try:
        st.session_state[job_key] = jobs.submit(kind, params, files=files, user=USER)
    except (PermanentError, ValueError) as exc:
        st.error(str(exc))


def show_job(job_key: str) -> None:
    if st.session_state.get(job_key):
        job_panel(st.session_state[job_key], USER, render_result)


def text_source(key: str) -> dict[str, Any] | None:
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
    picked = pick_outputs(USER, f"{key}-mine", "Processed file", types=("text", "csv"))
    if not picked:
        st.caption("Extract text on the Files page first; its text outputs are listed here.")
        return None
    return {"source_job_id": picked[0].job_id, "output_name": picked[0].name}


def split_upload(params: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    upload = params.pop("_upload", None)
    return params, [upload] if upload else []


# the page ---------------------------------------------------------------------------------

st.title("AI")
if PROVIDERS:
    st.caption(
        " · ".join(
            f"**{p.label}**{f' at {p.base_url}' if p.base_url else ''}: {', '.join(p.models)}"
            for p in PROVIDERS.values()
        )
    )
else:
    st.warning(f"{NO_PROVIDER}. The offline analyser still summarises and lists key points.")

chat_tab, analyse_tab, generate_tab, translate_tab, batch_tab, usage_tab = st.tabs(
    ["Chat", "Analyse", "Generate", "Translate", "Batch", "Usage"]
)


# chat -------------------------------------------------------------------------------------


def chat_sidebar() -> str | None:
    """My conversations, newest first; returns the one to show (None: a new one)."""
    if st.button("New conversation", key="chat-new"):
        st.session_state.pop("chat-id", None)
        st.session_state.pop("chat-job", None)
    conversations = ai_state.list_conversations(OWNER, limit=30)
    for conversation in conversations:
        label = f"{conversation['title']} · {when(conversation['updated_at'])}"
        if st.button(label, key=f"conv-{conversation['id']}", width="stretch"):
            st.session_state["chat-id"] = conversation["id"]
            st.session_state.pop("chat-job", None)
    return st.session_state.get("chat-id")


def chat_history(conversation_id: str | None) -> None:
    conversation = ai_state.load_conversation(conversation_id) if conversation_id else None
    if conversation and conversation.get("owner") != OWNER:
        conversation = None  # someone else's conversation reads as one that does not exist
    for message in (conversation or {}).get("messages", []):
        with st.chat_message(message["role"]):
            st.markdown(without_images(message["content"]))
            if message["role"] == "assistant":
                st.caption(usage_line(message.get("usage")))


@st.fragment(run_every=1.0)
def chat_pending() -> None:
    """The turn being answered: my message, then the reply once the job finishes."""
    job_id = st.session_state.get("chat-job")
    record = jobs.get(job_id, user=USER) if job_id else None
    if record is None:
        return
    if record["state"] in TERMINAL:
        st.session_state.pop("chat-job")
        if record["state"] == "SUCCESS":
            st.session_state["chat-id"] = record["result"]["conversation_id"]
        else:
            st.session_state["chat-error"] = record.get("error") or "The reply failed."
        st.rerun()
    with st.chat_message("user"):
        st.markdown(without_images(st.session_state.get("chat-pending-text", "")))
    with st.chat_message("assistant"):
        if record["state"] == "RETRY":
            job_status(record)
        else:
            st.caption("Thinking…")


with chat_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        conversations_col, talk_col = st.columns([1, 3])
        with conversations_col:
            current = chat_sidebar()
        with talk_col:
            chat_provider, chat_model = model_picker("chat")
            system = st.text_input("Instructions for the assistant (optional)", key="chat-system")
            chat_history(current)
            chat_pending()
            if st.session_state.get("chat-error"):
                st.error(st.session_state.pop("chat-error"))
            busy = bool(st.session_state.get("chat-job"))
            message = st.chat_input("Message", disabled=busy, key="chat-input")
            if message:
                st.session_state["chat-pending-text"] = message
                submit(
                    "chat-job",
                    "chat_completion",
                    {
                        "message": message,
                        "conversation_id": current,
                        "turn_id": uuid.uuid4().hex,
                        "system": system or None,
                        "provider": chat_provider,
                        "model": chat_model,
                    },
                )
                st.rerun()


# analyse ----------------------------------------------------------------------------------

with analyse_tab:
    analyse_provider, analyse_model = model_picker("analyse", allow_offline=True)
    source = text_source("analyse")
    offline_only = analyse_provider in (None, OFFLINE)
    kinds = ["summary", "key_points"] if offline_only else list(prompts.ANALYSES)
    analysis = st.selectbox(
        "Analysis", kinds, format_func=prompts.ANALYSIS_LABELS.get, key="analyse-kind"
    )
    question = None
    if analysis == "question":
        question = st.text_input("Your question about the text", key="analyse-question")
    if st.button("Analyse", type="primary", disabled=source is None, key="analyse-go"):
        params, files = split_upload(dict(source or {}))
        params.update(
            analysis=analysis, question=question, provider=analyse_provider, model=analyse_model
        )
        submit("analyse-job", "analyze_document", params, files)
    show_job("analyse-job")


# generate ---------------------------------------------------------------------------------

with generate_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        gen_provider, gen_model = model_picker("generate")
        kind = st.selectbox(
            "Write",
            list(prompts.CONTENT_KINDS),
            format_func=prompts.CONTENT_LABELS.get,
            key="gen-kind",
        )
        brief = st.text_area(
            "What is it about?",
            height=150,
            key="gen-brief",
            placeholder="Invite the sales team to the Q3 review on Friday…",
        )
        tone_col, length_col, audience_col = st.columns(3)
        tone = tone_col.selectbox("Tone", TONES, key="gen-tone", accept_new_options=True)
        length = length_col.select_slider(
            "Length", list(prompts.LENGTHS), value="medium", key="gen-length"
        )
        audience = audience_col.text_input(
            "Audience", key="gen-audience", placeholder="e.g. new customers"
        )
        if st.button("Generate", type="primary", disabled=not brief.strip(), key="gen-go"):
            submit(
                "gen-job",
                "generate_content",
                {
                    "brief": brief,
                    "kind": kind,
                    "tone": tone,
                    "length": length,
                    "audience": audience or None,
                    "provider": gen_provider,
                    "model": gen_model,
                },
            )
        show_job("gen-job")


# translate --------------------------------------------------------------------------------

with translate_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        tr_provider, tr_model = model_picker("translate")
        tr_source = text_source("translate")
        from_col, to_col = st.columns(2)
        source_language = from_col.selectbox(
            "From", ["Detect automatically", *LANGUAGES], key="tr-from", accept_new_options=True
        )
        target_language = to_col.selectbox(
            "Into", LANGUAGES, index=1, key="tr-to", accept_new_options=True
        )
        if st.button("Translate", type="primary", disabled=tr_source is None, key="tr-go"):
            params, files = split_upload(dict(tr_source or {}))
            if files and files[0].name.rsplit(".", 1)[-1].lower() not in ("txt", "md", "csv"):
                st.error(
                    "Translate works on text: extract a document's text on the Files page "
                    "first, then pick it under My processed files."
                )
            else:
                params.update(
                    target_language=target_language,
                    provider=tr_provider,
                    model=tr_model,
                    source_language=None
                    if source_language.startswith("Detect")
                    else source_language,
                )
                submit("tr-job", "translate_text", params, files)
        show_job("tr-job")


# batch ------------------------------------------------------------------------------------

with batch_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        batch_provider, batch_model = model_picker("batch")
        st.caption(
            f"A CSV with a **prompt** column (or prompts in the first column), and "
            f"optional **id** and **system** columns; at most {MAX_ITEMS} prompts."
        )
        upload = st.file_uploader("Prompts (CSV)", type=["csv", "txt"], key="batch-upload")
        items = []
        if upload is not None:
            try:
                items = items_from_csv(upload.getvalue())
                st.dataframe(
                    pd.DataFrame(
                        [{"id": i.id or i.index + 1, "prompt": i.prompt} for i in items[:20]]
                    ),
                    hide_index=True,
                )
                st.caption(f"{len(items)} prompts")
            except PermanentError as exc:
                st.error(str(exc))
        batch_system = st.text_input("Instructions for every prompt (optional)", key="batch-sys")
        concurrency = st.slider("Prompts at a time", 1, 8, 4, key="batch-parallel")
        if st.button("Run batch", type="primary", disabled=not items, key="batch-go"):
            submit(
                "batch-job",
                "batch_ai_requests",
                {
                    "system": batch_system or None,
                    "concurrency": concurrency,
                    "provider": batch_provider,
                    "model": batch_model,
                },
                files=[upload],
            )
        show_job("batch-job")


# usage ------------------------------------------------------------------------------------

with usage_tab:
    days = ai_state.usage_by_day(14, owner=USER.scope())
    table = pd.DataFrame(
        [
            {
                "Day": d["day"],
                "Requests": d["requests"],
                "Input tokens": d["input_tokens"],
                "Output tokens": d["output_tokens"],
                "Cached tokens": d["cached_tokens"],
                "Cost (USD)": round(d["cost_usd"], 4),
                "Unpriced requests": d["unpriced_requests"],
            }
            for d in days
        ]
    )
    today = days[0]
    spent, calls, tokens = st.columns(3)
    spent.metric("Cost today", f"${today['cost_usd']:,.4f}")
    calls.metric("Requests today", f"{today['requests']:,}")
    tokens.metric("Tokens today", f"{today['input_tokens'] + today['output_tokens']:,}")
    st.bar_chart(table.set_index("Day")["Cost (USD)"].iloc[::-1])
    st.dataframe(table, hide_index=True, width="stretch")
    if today["models"]:
        st.subheader("Today by model")
        st.dataframe(pd.DataFrame(today["models"]), hide_index=True, width="stretch")
    st.subheader("My recent AI jobs")
    recent = jobs.list(user=USER, owner=OWNER, queue="ai", limit=20).jobs
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Submitted": when(r["submitted_at"]),
                    "Job": r["kind"],
                    "State": r["state"],
                    "Usage": usage_line((r.get("result") or {}).get("usage")) or "—",
                }
                for r in recent
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption("Costs are estimates from the price table in settings; totals are by UTC day.")
