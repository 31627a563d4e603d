"""My files: everything you uploaded and every output of your jobs; find, download, delete."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import myfiles, quotas
from app.ui import plural, when
from app.ui.client import client_address
from app.ui.paging import pager
from app.ui.signin import current_user

PAGE_SIZES = (25, 50, 100)
USER = current_user()
CLIENT = client_address()

st.title("My files")
used, allowed = quotas.used_bytes(USER.id), quotas.quota_bytes(USER.id)
st.progress(min(1.0, used / allowed), text=(
    f"You use {quotas.format_size(used)} of your {quotas.format_size(allowed)} storage."
))

search, size = st.columns([3, 1])
text = search.text_input("Search by name", key="myfiles_text")
limit = size.selectbox("Files per page", PAGE_SIZES, key="myfiles_limit")
# A stack of cursors: the first is where this page starts, the ones below it the pages before.
filters = (text, limit)
if st.session_state.get("myfiles_filters") != filters:
    st.session_state["myfiles_filters"] = filters
    st.session_state["myfiles_cursors"] = [0]
cursors: list[int] = st.session_state["myfiles_cursors"]

page = myfiles.list_files(user=USER, text=text or None, cursor=cursors[-1], limit=limit)
for note in page.notes:
    st.caption(note)
by_key = {f.key: f for f in page.files}


def label(key: str) -> str:
    item = by_key[key]
    return f"{item.name} · {item.area} of {item.kind} {item.job_id[:8]}"


if not page.files:
    st.info("No files match." if text else "You have no files yet.")
else:
    st.dataframe(
        pd.DataFrame([
            {
                "Name": f.name, "Type": f.type, "Size": quotas.format_size(f.size),
                "File": "upload" if f.area == "input" else "output",
                "Job": f"{f.kind} · {f.job_id[:8]}", "Date": when(f.at),
                "Job state": f.state + (" (archived)" if f.archived else ""),
            }
            for f in page.files
        ]),
        hide_index=True,
        width="stretch",
    )

pager("myfiles", cursors, page.next_cursor)

if page.files:
    st.subheader("Download")
    chosen = st.selectbox("File", list(by_key), format_func=label, key="myfiles_download")
    if chosen:
        item = by_key[chosen]
        st.download_button(
            f"⬇ {item.name} ({quotas.format_size(item.size)})",
            # Read only when clicked, so only real downloads are audited.
            data=lambda: myfiles.file_bytes(item, user=USER, client=CLIENT),
            file_name=item.name.rsplit("/", 1)[-1],
            key="myfiles_download_button",
        )

    st.subheader("Delete")
    doomed = st.multiselect("Files to delete", list(by_key), format_func=label,
                            key="myfiles_delete")
    running = [by_key[k].name for k in doomed if by_key[k].running]
    if running:
        st.warning(f"{', '.join(running)} belong to a job that is still running; its files "
                   "can be deleted once it has finished.")
    confirm = st.checkbox(f"Yes, delete {plural(len(doomed), 'file')} for good",
                          key="myfiles_confirm")
    if st.button("Delete", type="primary", disabled=not (doomed and confirm),
                 key="myfiles_delete_button"):
        outcome = myfiles.delete_files(doomed, user=USER, client=CLIENT)
        st.session_state["myfiles_outcome"] = outcome
        st.rerun()

outcome = st.session_state.pop("myfiles_outcome", None)
if outcome is not None:
    if outcome.deleted:
        st.success(f"Deleted {plural(len(outcome.deleted), 'file')}.")
    for sentence in outcome.refused:
        st.error(sentence)
