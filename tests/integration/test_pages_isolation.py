"""Every page, signed in as two different people and as an admin: each sees only their own work.

Pages run under Streamlit's AppTest with the claims an OIDC sign-in leaves in st.user, against
the real Redis and a real worker, so what a page draws comes from app.jobs and the stores.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs, schedules
from app.ai import store as ai_store
from app.mail.store import ScheduledEmail, ScheduleStore
from tests.support.pages import page_test
from tests.support.users import ADMIN, ALICE, BOB

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def ai_provider(monkeypatch: pytest.MonkeyPatch):
    """A configured provider, so the AI page draws its chat and conversations (none is called)."""
    from app.settings import get_settings

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def show(path: str, user) -> AppTest:
    at = page_test(ROOT / path, default_timeout=30, user=user)
    at.run()
    assert not at.exception, at.exception
    return at


def everything_drawn(at: AppTest) -> str:
    """Every text, table cell, button and option the page drew, as one string."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success")
             for e in getattr(at, kind)]
    parts += [b.label for b in at.button]
    parts += [str(o) for box in at.selectbox for o in box.options]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(scope="module")
def alices_work(worker) -> dict:
    """A finished job, a scheduled email, a recurring report and a conversation of Alice's."""
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=ALICE)
    jobs.wait(job_id, 30, user=ALICE)
    schedule_id = f"iso-{uuid.uuid4().hex[:8]}"
    ScheduleStore().add(ScheduledEmail(
        id=schedule_id, owner=ALICE.id, due_at=4102444800.0, timezone="UTC",
        subject="Alice's secret plan", recipients="friend@example.com",
        params={"to": "friend@example.com", "subject": "Alice's secret plan", "text": "x"},
        schedule_job_id=job_id,
    ))
    report = schedules.create(
        name="Alice's weekly figures", report="task_performance", params={},
        cron="0 7 * * 1", recipients=[], owner=ALICE.id,
    )
    conversation = ai_store.create_conversation(ALICE.id, "Alice's private chat")
    yield {"job": job_id, "schedule": schedule_id, "report": report["id"],
           "conversation": conversation["id"]}
    schedules.delete(report["id"])
    ScheduleStore().cancel(schedule_id)


PAGES = ["pages/task_monitor.py", "pages/email.py", "pages/reports.py", "pages/ai.py",
         "pages/files.py", "app.py"]


@pytest.mark.parametrize("path", PAGES)
def test_bob_sees_none_of_alices_work(alices_work, path) -> None:
    drawn = everything_drawn(show(path, BOB))
    for secret in (alices_work["job"], "Alice's secret plan", "Alice's weekly figures",
                   "Alice's private chat", alices_work["report"]):
        assert secret not in drawn


def test_alice_sees_her_own_work_on_each_page(alices_work) -> None:
    assert alices_work["job"] in everything_drawn(show("pages/task_monitor.py", ALICE))
    assert "Alice's secret plan" in everything_drawn(show("pages/email.py", ALICE))
    assert "Alice's weekly figures" in everything_drawn(show("pages/reports.py", ALICE))
    assert "Alice's private chat" in everything_drawn(show("pages/ai.py", ALICE))


def test_the_admin_sees_everyones_work_and_the_admin_tools(alices_work) -> None:
    bobs = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=BOB)
    jobs.wait(bobs, 30, user=BOB)
    monitor = show("pages/task_monitor.py", ADMIN)
    drawn = everything_drawn(monitor)
    assert alices_work["job"] in drawn and bobs in drawn
    assert "Purge queue" in drawn
    assert "Alice's weekly figures" in everything_drawn(show("pages/reports.py", ADMIN))

    as_bob = everything_drawn(show("pages/task_monitor.py", BOB))
    assert "Purge queue" not in as_bob and "Open Flower" not in as_bob


def test_a_deep_link_to_someone_elses_job_shows_nothing_of_it(alices_work) -> None:
    at = page_test(ROOT / "pages/task_monitor.py", user=BOB)
    at.run()
    at.text_input(key="detail_id").input(alices_work["job"]).run()
    assert not at.exception, at.exception
    assert f"There is no job {alices_work['job']}." in [w.value for w in at.warning]
    assert "sample_job" not in " ".join(m.value for m in at.markdown)
