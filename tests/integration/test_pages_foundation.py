"""Home and Task Monitor pages, rendered by Streamlit's AppTest against the live stack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs, monitor
from app.auth import User
from tests.support.pages import page_test
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _run(path: str, user: User = TESTER) -> AppTest:
    at = page_test(str(ROOT / path), default_timeout=30, user=user)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error]
    parts += [s.value for s in at.success] + [c.value for c in at.caption]
    parts += [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def _table(at: AppTest, column: str) -> list:
    for frame in at.dataframe:
        if column in frame.value.columns:
            return list(frame.value[column])
    raise AssertionError(f"no table with column {column}")


def test_home_shows_redis_workers_queues_and_todays_jobs(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=TESTER)
    jobs.wait(job_id, 20, user=ADMIN)
    at = _run("app.py")
    assert "Redis is reachable." in _text(at)
    assert _table(at, "Queue") == ["email", "files", "ai", "reports", "ocr", "maintenance"]
    assert all(n >= 1 for n in _table(at, "Workers"))
    assert not [e for e in at.error if "No worker reads" in e.value]
    success = [m for m in at.metric if "Success" in m.label]
    assert int(success[0].value) >= 1


def test_monitor_lists_filters_and_shows_details(worker) -> None:
    owner = f"grace-{time.time_ns()}"
    ok = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=User(owner))
    bad = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0, "fail": True}, user=User(owner))
    jobs.wait(ok, 20, user=ADMIN)
    jobs.wait(bad, 20, user=ADMIN)

    at = _run("pages/task_monitor.py", user=ADMIN)  # only an admin filters by owner
    assert bad in _table(at, "Job") and ok in _table(at, "Job")

    at.selectbox(key="f_state").select("FAILURE").run()
    shown = _table(at, "Job")
    assert bad in shown and ok not in shown

    at.text_input(key="f_owner").input("nobody").run()
    assert any("No jobs match" in i.value for i in at.info)

    at.text_input(key="f_owner").input(owner).run()
    at.selectbox(key="f_state").select("All").run()
    assert sorted(_table(at, "Job")) == sorted([ok, bad])
    at.text_input(key="f_text").input("asked to fail").run()
    assert _table(at, "Job") == [bad]

    at.text_input(key="detail_id").input(bad).run()
    assert "The sample job was asked to fail." in _text(at)
    assert any(m.label == "Retries" for m in at.metric)


def test_monitor_cancels_a_running_job(worker) -> None:
    job_id = jobs.submit("sample_job", {"steps": 60, "step_seconds": 0.2}, user=TESTER)
    deadline = time.monotonic() + 20
    while jobs.get(job_id, user=ADMIN)["state"] != "PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.05)
    at = _run("pages/task_monitor.py")
    at.text_input(key="detail_id").input(job_id).run()
    at.button(key="act_cancel").click().run()
    assert jobs.get(job_id, user=ADMIN)["state"] == "REVOKED"


def retried_from_the_monitor() -> tuple[str, AppTest]:
    """A failed job, opened on the monitor and retried with its button."""
    bad = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0, "fail": True}, user=TESTER)
    jobs.wait(bad, 20, user=ADMIN)
    at = _run("pages/task_monitor.py")
    at.text_input(key="detail_id").input(bad).run()
    at.button(key="act_retry").click().run()
    return bad, at


def test_monitor_retries_a_failed_job_and_handles_dead_letters(worker) -> None:
    bad, at = retried_from_the_monitor()
    new_id = jobs.get(bad, user=ADMIN)["retried_by"]
    assert new_id and at.text_input(key="detail_id").value == new_id
    jobs.wait(new_id, 20, user=ADMIN)

    other = jobs.get(new_id, user=ADMIN)
    assert other["state"] == "FAILURE"
    at = _run("pages/task_monitor.py")
    at.button(key=f"dl_dismiss_{new_id}").click().run()
    assert new_id not in [j["id"] for j in jobs.dead_letters(user=ADMIN).jobs]
    assert jobs.get(new_id, user=ADMIN)["state"] == "FAILURE"  # dismissed, not deleted


def test_monitor_pings_every_queue(worker) -> None:
    at = _run("pages/task_monitor.py")
    at.button(key="ping_files").click().run()
    assert any("ms via" in s.value for s in at.success)


def test_monitor_pages_through_jobs(worker) -> None:
    owner = f"pager-{time.time_ns()}"
    ids = [jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=User(owner))
           for _ in range(30)]
    at = _run("pages/task_monitor.py", user=ADMIN)
    at.text_input(key="f_owner").input(owner).run()
    first = _table(at, "Job")
    assert first == list(reversed(ids))[:25]
    at.button(key="older").click().run()
    second = _table(at, "Job")
    assert second == list(reversed(ids))[25:]
    assert any("Page 2" in c.value for c in at.caption)
    at.button(key="newer").click().run()
    assert _table(at, "Job") == first


def test_monitor_follows_a_retry_and_links_the_retry_chain(worker) -> None:
    bad, at = retried_from_the_monitor()
    assert not at.exception, at.exception
    new_id = jobs.get(bad, user=ADMIN)["retried_by"]
    assert at.text_input(key="detail_id").value == new_id
    assert at.button(key="link_retry_of").label == f"Retry of: {bad}"  # the new job is shown

    at.button(key="link_retry_of").click().run()
    assert at.text_input(key="detail_id").value == bad
    assert at.button(key="act_retry").disabled  # a second click must not retry it again
    assert at.button(key="link_retried_by").label == f"Retried as: {new_id}"
    at.button(key="link_retried_by").click().run()
    assert at.text_input(key="detail_id").value == new_id
    jobs.wait(new_id, 20, user=ADMIN)


def test_home_says_what_nexus_does_and_how_to_start(worker) -> None:
    monitor.save_health(monitor.check_health(min_free_bytes=0))
    at = _run("app.py")
    text = _text(at) + " ".join(i.value for i in at.info)
    for promise in ("Word, Excel, PowerPoint and PDF", "HEIC", "exactly once", "New here?"):
        assert promise in text
    checked = " ".join(c.value for c in at.caption if "maintenance worker" in c.value)
    assert "(just now)" in checked and "T" not in checked.split("worker", 1)[1]
