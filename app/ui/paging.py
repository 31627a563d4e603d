"""Newer / Older buttons for lists that page by cursor (jobs, files, audit entries)."""

from __future__ import annotations

from typing import Any

import streamlit as st


def pager(key: str, starts: list[Any], next_start: Any) -> None:
    """Buttons over `starts`, the cursors of the pages seen so far (kept in session state).

    Older appends `next_start` (None: this is the last page), Newer drops the last cursor.
    """
    if len(starts) == 1 and next_start is None:
        return
    newer, where, older = st.columns([1, 2, 1])
    if newer.button("← Newer", disabled=len(starts) == 1, key=f"{key}-newer"):
        starts.pop()
        st.rerun()
    where.caption(f"Page {len(starts)}")
    if older.button("Older →", disabled=next_start is None, key=f"{key}-older"):
        starts.append(next_start)
        st.rerun()
