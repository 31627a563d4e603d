"""Pick one or more of my job outputs: search by name and page back through all of them.

Pickers never offer just "the newest N jobs": they page through the person's own files
(`app.myfiles`), so a file from last month is as reachable as one from a minute ago.
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from app import myfiles
from app.auth import User
from app.myfiles import MyFile
from app.ui import when
from app.ui.paging import pager

PAGE_SIZE = 30


def as_ref(item: MyFile) -> dict:
    """The stored-file ref a job takes for one of my outputs."""
    return {
        "path": f"jobs/{item.job_id}/out/{item.name}",
        "name": item.name.rsplit("/", 1)[-1],
        "type": item.type,
        "size": item.size,
        "job_id": item.job_id,
    }


def label(item: MyFile) -> str:
    return f"{item.name} · {item.kind} · {when(item.at)}"


def pick_outputs(
    user: User, key: str, title: str, *, types: Iterable[str] | None = None,
    multiple: bool = False,
) -> list[MyFile]:
    """My outputs (of the given types) chosen by the person; a search box and paging included."""
    wanted = set(types) if types is not None else None
    text = st.text_input(f"Search {title.lower()} by name", key=f"{key}-search",
                         placeholder="Part of a file name")
    cursors = _cursors(key, text)
    page = myfiles.list_files(user=user, text=text, cursor=cursors[-1], limit=PAGE_SIZE)
    usable = [
        f for f in page.files
        if f.area == "output" and not f.archived and f.state == "SUCCESS"
        and (wanted is None or f.type in wanted)
    ]
    chosen: dict[str, MyFile] = st.session_state.setdefault(f"{key}-chosen", {})
    options = {**{label(f): f for f in chosen.values()}, **{label(f): f for f in usable}}
    if not options:
        st.caption("None of your finished jobs has a matching output on this page.")
    if multiple:
        picked = st.multiselect(title, list(options), default=list(chosen), key=f"{key}-pick")
    else:
        one = st.selectbox(title, list(options), index=None, key=f"{key}-pick",
                           placeholder="Choose a file")
        picked = [one] if one else []
    st.session_state[f"{key}-chosen"] = {name: options[name] for name in picked}
    pager(key, cursors, page.next_cursor)
    return [options[name] for name in picked]


def _cursors(key: str, text: str) -> list[int]:
    """Where each page seen so far began; a new search starts again from the newest."""
    if st.session_state.get(f"{key}-searched") != text:
        st.session_state[f"{key}-searched"] = text
        st.session_state[f"{key}-cursors"] = [0]
    return st.session_state.setdefault(f"{key}-cursors", [0])

