"""AI: chat, analyse, generate, translate, batch prompts and read invoice and form fields on
the ai queue, with usage by day.

Every request runs as a job through `app.jobs`; conversations and daily usage totals come from
`app.ai.store` for the signed-in person. Without a provider the offline analyser still
summarises and lists key points, and rules read invoice fields.
"""

from __future__ import annotations

import uuid

import streamlit as st

from app.ai import prompts
from app.ai.batch import MAX_ITEMS
from app.ai.providers import NO_PROVIDER, configured
from app.settings import get_settings
from app.ui.ai import (
    OFFLINE,
    batch_preview,
    conversation_list,
    conversation_view,
    failed_turn,
    fields_form,
    model_picker,
    pending_turn,
    providers_caption,
    show_job,
    split_upload,
    submit,
    text_source,
    usage_panel,
)
from app.ui.signin import current_user

USER = current_user()
OWNER = USER.id
PROVIDERS = {p.name: p for p in configured(get_settings())}
LANGUAGES = [
    "English", "French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Polish",
    "Swedish", "Japanese", "Chinese (Simplified)", "Korean", "Arabic",
]
TONES = ["professional", "friendly", "formal", "persuasive", "casual", "enthusiastic"]
TEXT_SUFFIXES = ("txt", "md", "csv")

st.title("AI")
if PROVIDERS:
    providers_caption(PROVIDERS)
else:
    st.warning(f"{NO_PROVIDER}. The offline analyser still summarises and lists key points.")

# Fields comes last: the tabs before it keep their places.
chat_tab, analyse_tab, generate_tab, translate_tab, batch_tab, usage_tab, fields_tab = st.tabs(
    ["Chat", "Analyse", "Generate", "Translate", "Batch", "Usage", "Fields"]
)


# chat -------------------------------------------------------------------------------------

with chat_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        conversations_col, talk_col = st.columns([1, 3])
        with conversations_col:
            current = conversation_list(OWNER, PROVIDERS)
        with talk_col:
            chat_provider, chat_model = model_picker(PROVIDERS, "chat")
            system = st.text_input("Instructions for the assistant (optional)", key="chat-system")
            conversation_view(current, OWNER)
            pending_turn(USER)
            resent = failed_turn()
            busy = bool(st.session_state.get("chat-job"))
            message = st.chat_input("Message", disabled=busy, key="chat-input") or resent
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
                    USER,
                )
                st.rerun()


# analyse ----------------------------------------------------------------------------------

with analyse_tab:
    analyse_provider, analyse_model = model_picker(PROVIDERS, "analyse", allow_offline=True)
    source = text_source("analyse", USER)
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
        submit("analyse-job", "analyze_document", params, USER, files)
    show_job("analyse-job", USER)


# generate ---------------------------------------------------------------------------------

with generate_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        gen_provider, gen_model = model_picker(PROVIDERS, "generate")
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
                USER,
            )
        show_job("gen-job", USER)


# translate --------------------------------------------------------------------------------

with translate_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        tr_provider, tr_model = model_picker(PROVIDERS, "translate")
        tr_source = text_source("translate", USER)
        from_col, to_col = st.columns(2)
        source_language = from_col.selectbox(
            "From", ["Detect automatically", *LANGUAGES], key="tr-from", accept_new_options=True
        )
        target_language = to_col.selectbox(
            "Into", LANGUAGES, index=1, key="tr-to", accept_new_options=True
        )
        if st.button("Translate", type="primary", disabled=tr_source is None, key="tr-go"):
            params, files = split_upload(dict(tr_source or {}))
            if files and files[0].name.rsplit(".", 1)[-1].lower() not in TEXT_SUFFIXES:
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
                submit("tr-job", "translate_text", params, USER, files)
        show_job("tr-job", USER)


# batch ------------------------------------------------------------------------------------

with batch_tab:
    if not PROVIDERS:
        st.info(NO_PROVIDER)
    else:
        batch_provider, batch_model = model_picker(PROVIDERS, "batch")
        st.caption(
            f"A CSV with a **prompt** column (or prompts in the first column), and "
            f"optional **id** and **system** columns; at most {MAX_ITEMS} prompts."
        )
        upload = st.file_uploader("Prompts (CSV)", type=["csv", "txt"], key="batch-upload")
        items = batch_preview(upload)
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
                USER,
                files=[upload],
            )
        show_job("batch-job", USER)


# usage ------------------------------------------------------------------------------------

with usage_tab:
    usage_panel(USER)


# fields -----------------------------------------------------------------------------------

with fields_tab:
    fields_form(PROVIDERS, USER)
