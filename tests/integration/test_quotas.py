"""Quotas against the real Redis and a real worker: each refusal is a sentence, at submit or as
the job's FAILURE, and an admin can change each one for one person."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from app import audit, jobs, quotas, schedules
from app.ai import store as ai_store
from app.ai.types import NoLimit, Usage
from app.auth import NotAllowed, User
from app.errors import PermanentError
from tests.support.pages import page_test
from tests.support.users import ADMIN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def person(name: str) -> User:
    return User(f"{name}-{uuid.uuid4().hex[:8]}@example.com", name.title())


def quick(user: User) -> str:
    return jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=user)


def test_jobs_per_minute_refuses_at_submit_with_retry_after(redis_client) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "jobs_per_minute", 2, by=ADMIN)
    if time.time() % 60 > 55:  # all three submits must land in the same minute
        time.sleep(61 - time.time() % 60)
    quick(alice)
    quick(alice)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        quick(alice)
    assert str(refused.value).startswith("You can submit 2 jobs a minute and have reached that;")
    assert 0 < refused.value.retry_after <= 60
    assert jobs.list(user=alice).total == 2  # the refused one was not queued
    quick(person("bob"))  # the quota is per person


def test_ai_tokens_quota_refuses_at_submit_and_before_each_call(redis_client) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "ai_tokens_per_day", 1000, by=ADMIN)
    usage = Usage("anthropic", "claude-haiku-5-5", requests=1, input_tokens=900,
                  output_tokens=200)
    ai_store.record_usage(usage, alice.id)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        jobs.submit("claude_completion", {"prompt": "hi"}, user=alice)
    assert str(refused.value).startswith(
        "Your jobs have used 1,100 AI tokens today, your daily quota is 1,000;"
    )
    assert 0 < refused.value.retry_after <= 86400
    # Inside a job: the limiter every model call goes through refuses before the call.
    with pytest.raises(PermanentError, match="1,100 AI tokens today"):
        quotas.QuotaLimiter(NoLimit(), alice.id).reserve("anthropic", 10)
    quotas.QuotaLimiter(NoLimit(), person("bob").id).reserve("anthropic", 10)


def test_recipients_per_bulk_send_fail_the_job_with_a_sentence(worker) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "bulk_max_recipients", 3, by=ADMIN)
    listing = "email,name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(5))
    job_id = jobs.submit("send_bulk_emails", {"subject": "Hello", "text": "Hi {{ name }}"},
                         files=[("people.csv", listing.encode())], files_param="csv",
                         user=alice)
    record = jobs.wait(job_id, timeout=60, user=alice)
    assert record["state"] == "FAILURE"
    assert "This bulk send has 5 recipients; one bulk send may have at most 3." in record["error"]
    assert record["retries"] == 0  # a quota is not worth retrying
    # Given as a list, the same send is refused at once.
    with pytest.raises(quotas.QuotaExceeded, match="has 5 recipients"):
        jobs.submit("send_bulk_emails", {"subject": "Hello", "text": "Hi",
                                         "recipients": [f"p{i}@example.com" for i in range(5)]},
                    user=alice)


def test_emails_per_day_refuses_at_submit_once_used_up(redis_client) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "emails_per_day", 1, by=ADMIN)
    quotas.take_email(alice.id)
    with pytest.raises(quotas.QuotaExceeded, match="You can send 1 emails a day") as refused:
        jobs.submit("send_email", {"to": "x@example.com", "subject": "s", "text": "t"},
                    user=alice)
    assert refused.value.retry_after > 0
    with pytest.raises(quotas.QuotaExceeded):
        quotas.take_email(alice.id)  # the task's own check, before each message
    assert quotas.emails_today(alice.id) == 1  # a refusal is not counted


def test_report_interval_refused_for_a_person_and_allowed_for_an_admin(redis_client) -> None:
    alice = person("alice")
    with pytest.raises(PermanentError) as refused:
        schedules.create(name="Often", report="task_performance", params={},
                                cron="*/5 * * * *", recipients=[], owner=alice.id)
    assert str(refused.value) == (
        "This schedule would run a report 5 minutes after the one before; "
        "a recurring report may run at most every 15 minutes."
    )
    with pytest.raises(quotas.QuotaExceeded, match="5 minutes after the one before"):
        jobs.submit("schedule_recurring_report", {"report": "task_performance",
                                                  "cron": "*/5 * * * *"}, user=alice)
    fine = schedules.create(name="Hourly", report="task_performance", params={},
                                   cron="0 * * * *", recipients=[], owner=alice.id)
    admins = schedules.create(name="Often", report="task_performance", params={},
                                     cron="*/5 * * * *", recipients=[], owner=ADMIN.id,
                                     by_admin=True)
    quotas.set_override(alice.id, "report_min_interval_minutes", 5, by=ADMIN)
    overridden = schedules.create(name="Often", report="task_performance", params={},
                                         cron="*/5 * * * *", recipients=[], owner=alice.id)
    for schedule in (fine, admins, overridden):
        assert schedules.delete(schedule["id"])


def test_only_admins_change_quotas_and_each_change_is_audited(redis_client) -> None:
    alice = person("alice")
    with pytest.raises(NotAllowed):
        quotas.set_override(alice.id, "jobs_per_minute", 1000, by=alice)
    with pytest.raises(ValueError, match="no quota called"):
        quotas.set_override(alice.id, "nonsense", 1, by=ADMIN)
    quotas.set_override(alice.id, "jobs_per_minute", 7, by=ADMIN, client="10.0.0.9")
    assert quotas.limit(alice.id, "jobs_per_minute") == 7
    assert quotas.overrides(alice.id) == {"jobs_per_minute": 7}
    quotas.clear_override(alice.id, "jobs_per_minute", by=ADMIN)
    assert quotas.limit(alice.id, "jobs_per_minute") == quotas.default("jobs_per_minute")
    entries = audit.search(text=alice.id, user=ADMIN).entries
    assert [(e.action, e.actor, e.detail) for e in entries] == [
        ("admin.quota.clear", ADMIN.id, "jobs_per_minute"),
        ("admin.quota.set", ADMIN.id, "jobs_per_minute=7"),
    ]
    assert entries[1].client == "10.0.0.9"


def test_admin_page_lists_people_and_changes_a_quota(redis_client) -> None:
    alice = person("alice")
    quick(alice)
    at = page_test(ROOT / "pages/admin.py", user=ADMIN).run()
    assert not at.exception, at.exception
    assert alice.id in set(at.dataframe[1].value["Person"])
    at.selectbox(key="admin_person").select(alice.id)
    at.selectbox(key="admin_quota").select("emails_per_day")
    at.run()
    at.number_input(key="admin_value").set_value(42)
    at.button(key="admin_set").click().run()
    assert not at.exception, at.exception
    assert quotas.limit(alice.id, "emails_per_day") == 42
    assert any("is now 42" in s.value for s in at.success)


def test_admin_page_is_for_admins_only(redis_client) -> None:
    at = page_test(ROOT / "pages/admin.py", user=person("alice")).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["This page is for admins."]
    assert not at.dataframe and not at.button
