"""Per-user isolation below the pages: app.jobs, the task base class and the domain stores.

Two people, Alice and Bob, and an admin, against real Redis, a real worker on every queue and a
real SMTP server. Another person's job must answer exactly as a missing one does, and none of
the routes that once crossed owners (a batch callback, the scheduled-report runner, email
idempotency keys, retry links) may reach Alice's work from Bob's jobs.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from app import jobs, schedules
from app.ai import store as ai_store
from app.ai.types import Usage
from app.auth import SYSTEM, User
from app.connection import get_registry
from app.mail.store import SendLedger
from app.tasks.recording import OWNER_HEADER, RETRY_OF_HEADER
from config.celery_config import celery_app
from tests.support.mail_server import MailServer, worker_env
from tests.support.processes import Proc, start_worker
from tests.support.users import ADMIN, ALICE, BOB

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mail_server():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(redis_url: str, session_dir: Path, mail_server: MailServer) -> Proc:
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    proc = start_worker(logs, concurrency=2, env=worker_env(mail_server))
    yield proc
    proc.stop()


def alice_file_job() -> dict:
    job_id = jobs.submit(
        "process_pdf", {"operations": ["info"]}, files=[("a.txt", b"not a pdf")], user=ALICE
    )
    return jobs.wait(job_id, 30, user=ALICE)


def publish_as(task_name: str, owner: User, kwargs: dict, headers: dict | None = None) -> str:
    """Publish a task the way only the platform can, bypassing app.jobs, as `owner`'s job."""
    job_id = str(uuid.uuid4())
    celery_app.tasks[task_name].apply_async(
        kwargs=kwargs, task_id=job_id, headers={OWNER_HEADER: owner.id, **(headers or {})}
    )
    return job_id


def test_someone_elses_job_answers_as_a_missing_one(stack) -> None:
    failed = alice_file_job()
    job_id = failed["id"]
    assert failed["state"] == "FAILURE"
    missing = str(uuid.uuid4())

    for probe in (job_id, missing):
        assert jobs.get(probe, user=BOB) is None
        assert jobs.cancel(probe, user=BOB) is False
        assert jobs.outputs(probe, user=BOB) == []
        assert jobs.children(probe, user=BOB) == []
        assert jobs.dismiss(probe, user=BOB) is False
        with pytest.raises(ValueError, match=r"There is no such job\."):
            jobs.retry(probe, user=BOB)
        with pytest.raises(FileNotFoundError):
            jobs.output_bytes(probe, "a.txt", user=BOB)
        with pytest.raises(FileNotFoundError):
            jobs.zip_outputs(probe, user=BOB)
        with pytest.raises(LookupError):
            jobs.wait(probe, 1, user=BOB)

    assert job_id not in {j["id"] for j in jobs.list(user=BOB, limit=200).jobs}
    assert job_id not in {j["id"] for j in jobs.list(user=BOB, owner=ALICE.id).jobs}
    assert job_id not in {j["id"] for j in jobs.dead_letters(user=BOB, limit=200).jobs}
    assert jobs.counts_today(user=BOB)["FAILURE"] == sum(
        1 for j in jobs.list(user=BOB, state="FAILURE", limit=500).jobs
    )

    assert jobs.get(job_id, user=ALICE)["state"] == "FAILURE"
    assert job_id in {j["id"] for j in jobs.dead_letters(user=ALICE).jobs}
    assert jobs.get(job_id, user=ADMIN)["owner"] == ALICE.id
    assert job_id in {j["id"] for j in jobs.list(user=ADMIN, owner=ALICE.id).jobs}


def test_an_admin_retry_stays_the_owners_job(stack) -> None:
    failed = alice_file_job()
    again = jobs.retry(failed["id"], user=ADMIN)
    record = jobs.wait(again, 30, user=ALICE)
    assert record["owner"] == ALICE.id and record["retry_of"] == failed["id"]
    assert jobs.get(again, user=BOB) is None


def test_internal_tasks_cannot_be_submitted(stack) -> None:
    for kind in ("finish_file_batch", "run_scheduled_report", "dispatch_due_emails",
                 "cleanup_old_results"):
        assert kind not in jobs.kinds()
        with pytest.raises(jobs.UnknownKind):
            jobs.submit(kind, {}, user=BOB)
        with pytest.raises(jobs.UnknownKind):
            jobs.submit(kind, {}, user=ADMIN)


def test_a_batch_callback_cannot_copy_someone_elses_results(stack) -> None:
    theirs = alice_file_job()["id"]
    plan = [{"file": "a.txt", "type": "pdf", "job_id": theirs}]
    stolen = publish_as("app.tasks.file_tasks.finish_file_batch", BOB, {"plan": plan})
    record = jobs.wait(stolen, 30, user=BOB)
    assert record["state"] == "FAILURE"
    assert record["error"] == f"Job {theirs} is not one of your jobs."
    assert record["outputs"] == [] and record["result"] is None


def test_the_report_runner_refuses_someone_elses_schedule(stack, mail_server) -> None:
    schedule = schedules.create(
        name="Alice's weekly", report="task_performance", params={"days": 1},
        cron="0 6 * * 1", recipients="alice@example.com", owner=ALICE.id,
    )
    try:
        run = publish_as(
            "app.tasks.report_tasks.run_scheduled_report", BOB, {"schedule_id": schedule["id"]}
        )
        record = jobs.wait(run, 30, user=BOB)
        assert record["state"] == "FAILURE"
        assert record["error"] == "This recurring report was deleted before it ran."
        assert mail_server.received == []
        assert schedules.get(schedule["id"], owner=BOB.id) is None
        assert schedules.pause(schedule["id"], owner=BOB.id) is False
        assert schedules.delete(schedule["id"], owner=BOB.id) is False
        assert [s["id"] for s in schedules.list_schedules(owner=BOB.id)] == []
        assert schedules.get(schedule["id"], owner=ALICE.id)["enabled"] is True
    finally:
        schedules.delete(schedule["id"])


def test_idempotency_keys_belong_to_their_owner(stack, mail_server) -> None:
    key = uuid.uuid4().hex
    mail_server.reset()
    first = jobs.wait(jobs.submit(
        "send_email",
        {"to": "alice-friend@example.com", "subject": "Alice's", "text": "x",
         "idempotency_key": key},
        user=ALICE,
    ), 30, user=ALICE)
    second = jobs.wait(jobs.submit(
        "send_email",
        {"to": "bob-friend@example.com", "subject": "Bob's", "text": "x", "idempotency_key": key},
        user=BOB,
    ), 30, user=BOB)

    assert first["state"] == second["state"] == "SUCCESS", (first["error"], second["error"])
    assert second["result"]["already_sent"] is False
    assert second["result"]["accepted"] == ["bob-friend@example.com"]
    got = mail_server.wait_for(2)
    assert sorted(m.message["Subject"] for m in got) == ["Alice's", "Bob's"]

    # Each person's local inbox shows the mail their own jobs sent, and nothing else.
    ledger = SendLedger()
    ids = [m.message["Message-ID"] for m in got]
    assert ledger.sent_by(ALICE.id, ids) == {first["result"]["message_id"]}
    assert ledger.sent_by(BOB.id, ids) == {second["result"]["message_id"]}


def test_retry_links_never_cross_owners(stack) -> None:
    theirs = alice_file_job()["id"]
    with pytest.raises(ValueError, match=r"There is no such job\."):
        jobs.submit("ping", {}, user=BOB, retry_of=theirs)

    forged = publish_as("app.tasks.diagnostics.ping", BOB, {}, {RETRY_OF_HEADER: theirs})
    record = jobs.wait(forged, 30, user=BOB)
    assert record["retry_of"] is None
    assert jobs.get(theirs, user=ALICE)["retried_by"] is None


def test_system_jobs_stay_out_of_peoples_views(stack) -> None:
    system_job = jobs.submit("health_check", {}, user=SYSTEM)
    jobs.wait(system_job, 30, user=SYSTEM)
    mine = jobs.submit("ping", {}, user=BOB)
    jobs.wait(mine, 30, user=BOB)

    assert system_job not in {j["id"] for j in jobs.list(user=BOB, limit=500).jobs}
    assert system_job not in {j["id"] for j in jobs.list(user=ADMIN, limit=500).jobs}
    assert jobs.get(system_job, user=BOB) is None
    shown = {j["id"] for j in jobs.list(user=ADMIN, include_system=True, limit=500).jobs}
    assert {system_job, mine} <= shown
    # Beat publishes with no owner at all: that is system work too.
    beat = str(uuid.uuid4())
    celery_app.tasks["app.tasks.maintenance_tasks.health_check"].apply_async(task_id=beat)
    assert jobs.wait(beat, 30, user=SYSTEM)["owner"] == "system"


def test_ai_usage_is_counted_per_person(redis_client) -> None:
    get_registry()  # the shared client is up
    before_alice = ai_store.usage_by_day(1, owner=ALICE.id)[0]["input_tokens"]
    before_bob = ai_store.usage_by_day(1, owner=BOB.id)[0]["input_tokens"]
    ai_store.record_usage(Usage("anthropic", "claude-haiku-4-5", 1, 700, 50, 0, 0.001), ALICE.id)
    assert ai_store.usage_by_day(1, owner=ALICE.id)[0]["input_tokens"] == before_alice + 700
    assert ai_store.usage_by_day(1, owner=BOB.id)[0]["input_tokens"] == before_bob
    assert ai_store.tokens_today(ALICE.id) >= 750


def test_a_performance_report_shows_only_its_owners_jobs(stack) -> None:
    alice_file_job()
    bob_ping = jobs.submit("ping", {}, user=BOB)
    jobs.wait(bob_ping, 30, user=BOB)

    def report_kinds(user: User) -> set[str]:
        job_id = jobs.submit(
            "generate_task_performance_report", {"days": 1, "formats": ["json"]}, user=user
        )
        record = jobs.wait(job_id, 60, user=user)
        assert record["state"] == "SUCCESS", record["error"]
        return set(record["result"]["numbers"]["by_kind"])

    assert "process_pdf" not in report_kinds(BOB)
    assert {"process_pdf", "ping"} <= report_kinds(ADMIN)


def test_a_job_id_in_use_cannot_be_reused(stack) -> None:
    theirs = alice_file_job()["id"]
    with pytest.raises(ValueError, match="already taken"):
        jobs.submit("ping", {}, user=BOB, job_id=theirs)
    assert jobs.get(theirs, user=ALICE)["kind"] == "process_pdf"
