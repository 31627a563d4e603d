"""Admin: each person's quotas and storage, and the overrides an admin gives them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import quotas
from app.ui.client import client_address
from app.ui.signin import current_user

USER = current_user()
CLIENT = client_address()

st.title("Admin")
if not USER.is_admin:
    st.error("This page is for admins.")
    st.stop()

st.subheader("Defaults")
st.caption("Everyone gets these, from the settings, unless they have an override below.")
st.dataframe(
    pd.DataFrame([
        {"Quota": q.label, "Default": f"{quotas.default(q.name):,} {q.unit}"}
        for q in quotas.QUOTAS.values()
    ]),
    hide_index=True,
    width="stretch",
)

people = quotas.known_users()
st.subheader("People")
if not people:
    st.info("Nobody has submitted a job yet.")
    st.stop()


def row(owner: str) -> dict[str, str]:
    mine = quotas.overrides(owner)
    cells = {"Person": owner,
             "Storage used": quotas.format_size(quotas.used_bytes(owner)),
             "Emails today": f"{quotas.emails_today(owner):,}"}
    for quota in quotas.QUOTAS.values():
        value = mine.get(quota.name)
        cells[quota.label] = (f"{value:,} (override)" if value is not None
                              else f"{quotas.default(quota.name):,}")
    return cells


st.dataframe(pd.DataFrame([row(p) for p in people]), hide_index=True, width="stretch")

st.subheader("Change a quota")
person = st.selectbox("Person", people, key="admin_person")
name = st.selectbox("Quota", list(quotas.QUOTAS), key="admin_quota",
                    format_func=lambda n: quotas.QUOTAS[n].label)
current = quotas.limit(person, name)
value = st.number_input(f"New value ({quotas.QUOTAS[name].unit})", min_value=1,
                        value=current, step=1, key="admin_value")
set_col, clear_col = st.columns(2)
if set_col.button("Set override", type="primary", key="admin_set"):
    quotas.set_override(person, name, int(value), by=USER, client=CLIENT)
    st.success(f"{quotas.QUOTAS[name].label} for {person} is now {int(value):,}.")
if clear_col.button("Back to the default", key="admin_clear"):
    quotas.clear_override(person, name, by=USER, client=CLIENT)
    st.success(f"{person} is back on the default {quotas.QUOTAS[name].label.lower()}.")
