"""API tokens: personal tokens for scripts and the `nexus` command; create, list, revoke."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app import tokens
from app.settings import get_settings
from app.ui import when
from app.ui.client import client_address
from app.ui.signin import current_user

EXPIRIES = {"Never": None, "30 days": 30, "90 days": 90, "1 year": 365}
USER = current_user()
CLIENT = client_address()
SETTINGS = get_settings()

st.title("API tokens")
st.write(
    "A token lets a script, a spreadsheet macro or the `nexus` command act as you through the "
    f"HTTP API (`http://{SETTINGS.api_host}:{SETTINGS.api_port}/api/docs`). It sees and does "
    "exactly what you can here. Nexus keeps only a fingerprint of it: you see a token once."
)

with st.form("token_create", clear_on_submit=True):
    name_column, expiry_column = st.columns([3, 1])
    name = name_column.text_input("Name", placeholder="nightly export", key="token_name",
                                  help="What will use the token, so you know what to revoke.")
    expiry = expiry_column.selectbox("Expires", list(EXPIRIES), key="token_expiry")
    create = st.form_submit_button("Create token", type="primary", key="token_create_button")
if create:
    days = EXPIRIES[expiry]
    try:
        secret, made = tokens.create(USER, name, expires_at=time.time() + days * 86400
                                     if days else None, client=CLIENT)
    except ValueError as refused:
        st.error(str(refused))
    else:
        st.success(f"Created “{made.name}”. Copy it now: it will not be shown again.")
        st.code(secret, language=None)
        st.caption(f"export NEXUS_URL=http://{SETTINGS.api_host}:{SETTINGS.api_port} "
                   "NEXUS_TOKEN=<the token>")

everyone = USER.is_admin and st.toggle("Show everyone's tokens", key="tokens_everyone")
listed = tokens.list_tokens(user=USER, everyone=everyone)
st.subheader("Everyone's tokens" if everyone else "Your tokens")
if not listed:
    st.info("No tokens yet." if not everyone else "Nobody has a token.")
else:
    rows = [{"Name": t.name, **({"Owner": t.owner} if everyone else {}),
             "Created": when(t.created), "Last used": when(t.last_used) if t.last_used
             else "never", "Expires": "expired" if t.expired else (when(t.expires) if t.expires
                                                                    else "never")}
            for t in listed]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    by_id = {t.id: t for t in listed}
    chosen = st.selectbox("Token to revoke", list(by_id), key="tokens_revoke_pick",
                          format_func=lambda i: f"{by_id[i].name} ({by_id[i].owner})"
                          if everyone else by_id[i].name)
    if st.button("Revoke", key="tokens_revoke", disabled=not chosen):
        if tokens.revoke(chosen, user=USER, client=CLIENT):
            st.session_state["tokens_revoked"] = by_id[chosen].name
        st.rerun()

revoked = st.session_state.pop("tokens_revoked", None)
if revoked:
    st.success(f"Revoked “{revoked}”: it no longer works.")
