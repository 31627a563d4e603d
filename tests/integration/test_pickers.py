"""The shared file picker pages and searches through all of a person's outputs, not the newest N."""

from __future__ import annotations

import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app import storage
from app.auth import User
from app.connection import get_registry

pytestmark = pytest.mark.integration


def finished_job_with_output(owner: str, name: str, submitted_at: float) -> str:
    """A finished job of `owner` with one CSV output, recorded as a worker would leave it."""
    registry = get_registry()
    job_id = str(uuid.uuid4())
    registry.create(job_id, kind="export_data", name="app.tasks.report_tasks.export_data",
                    queue="reports", owner=owner, submitted_at=submitted_at)
    path = storage.output_path(job_id, name)
    path.write_text("a,b\n1,2\n")
    registry.transition(job_id, "SUCCESS", finished_at=submitted_at + 1,
                        outputs=storage.list_outputs(job_id))
    return job_id


def picker_script() -> None:
    import streamlit as st

    from app.ui.pickers import as_ref, pick_outputs

    chosen = pick_outputs(st.session_state["user"], "t", "Output", types=("csv",))
    st.session_state["refs"] = [as_ref(item) for item in chosen]


def test_the_picker_reaches_the_oldest_file_by_paging_and_by_search(redis_client) -> None:
    owner = f"picker-{uuid.uuid4().hex[:6]}@example.com"
    start = time.time() - 3600
    ids = [finished_job_with_output(owner, f"file-{n:02d}.csv", start + n) for n in range(40)]
    at = AppTest.from_function(picker_script, default_timeout=30)
    at.session_state["user"] = User(owner)
    at.run()
    assert not at.exception, at.exception
    options = at.selectbox(key="t-pick").options
    assert len(options) == 30 and options[0].startswith("file-39.csv")
    assert not any(o.startswith("file-00.csv") for o in options)

    at.button(key="t-older").click().run()
    older = at.selectbox(key="t-pick").options
    assert [o.split(" ")[0] for o in older] == [f"file-{n:02d}.csv" for n in range(9, -1, -1)]

    at.text_input(key="t-search").input("file-00").run()
    [only] = at.selectbox(key="t-pick").options
    at.selectbox(key="t-pick").select(only).run()
    [ref] = at.session_state["refs"]
    assert ref["job_id"] == ids[0] and storage.resolve(ref).read_text() == "a,b\n1,2\n"
