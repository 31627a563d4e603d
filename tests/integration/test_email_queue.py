"""The email queue end to end: real Redis, real Celery workers, a real SMTP server (aiosmtpd).

Workers here are this module's own: they read SMTP_HOST/SMTP_PORT of the in-process server and
run with a 10-second visibility timeout, so redelivery after a lost worker happens within the test.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from streamlit.testing.v1 import AppTest

from app import jobs
from app.auth import SYSTEM, User
from app.mail import inbox
from app.mail.store import ScheduledEmail, ScheduleStore, SendLedger, Throttle
from app.runtime import redis_server
from app.settings import get_settings
from tests.support.mail_server import MailServer, worker_env
from tests.support.object_store import BOTH_STORES
from tests.support.pages import page_test
from tests.support.processes import Proc, start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = [pytest.mark.integration, *BOTH_STORES]

VISIBILITY_TIMEOUT = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mail_server():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_server(mail_server: MailServer):
    mail_server.reset()
    yield


class Workers:
    """The module's email worker, which a test may kill and replace."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.current: Proc = self.start()

    def start(self) -> Proc:
        return start_worker(
            self.logs, queues=("email",), pool="threads", concurrency=4, env=self.env
        )

    def replace(self) -> None:
        self.current.kill()
        self.current = self.start()


@pytest.fixture(scope="module")
def workers(redis_url: str, session_dir: Path, mail_server: MailServer, storage_backend: str):
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    env = worker_env(
        mail_server,
        SMTP_TIMEOUT="2",
        EMAIL_BULK_CONNECTIONS="2",
        VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
    )
    pool = Workers(logs, env)
    yield pool
    pool.current.stop()


def submit_and_wait(
    kind: str, params: dict, timeout: float = 30, owner: str = TESTER.id, **options
) -> dict:
    user = User(owner)
    return jobs.wait(jobs.submit(kind, params, **options, user=user), timeout, user=user)


def test_send_email_delivers_headers_mime_tree_attachments_and_hides_bcc(workers, mail_server):
    record = submit_and_wait(
        "send_email",
        {
            "to": ["Ann Lee <ann@example.com>"],
            "cc": "cat@example.com",
            "bcc": "boss@example.com",
            "reply_to": "help@example.com",
            "subject": "Quarterly report",
            "html": "<h1>Q3</h1><p>Attached, as promised.</p>",
        },
        files=[("q3.pdf", b"%PDF-1.7 quarterly"), ("figures.csv", b"month,total\njul,10\n")],
        files_param="attachments",
        owner="ann",
    )
    assert record["state"] == "SUCCESS", record["error"]
    [got] = mail_server.wait_for(1)
    assert got.rcpt_tos == ["ann@example.com", "cat@example.com", "boss@example.com"]
    assert got.mail_from == "nexus@example.com"
    msg = got.message
    assert (msg["From"], msg["To"], msg["Cc"], msg["Reply-To"]) == (
        "Nexus <nexus@example.com>",
        "Ann Lee <ann@example.com>",
        "cat@example.com",
        "help@example.com",
    )
    assert msg["Subject"] == "Quarterly report"
    assert msg["Bcc"] is None and b"boss@example.com" not in got.data
    assert msg["Message-ID"] == record["result"]["message_id"]
    assert [msg.get_content_type(), [p.get_content_type() for p in msg.iter_parts()]] == [
        "multipart/mixed",
        ["multipart/alternative", "application/pdf", "text/csv"],
    ]
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        "Q3\n\nAttached, as promised.\n"
    )
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert files == {"q3.pdf": b"%PDF-1.7 quarterly", "figures.csv": b"month,total\njul,10\n"}


def test_attachments_come_only_from_the_senders_own_jobs(workers, mail_server):
    own = submit_and_wait(
        "send_bulk_emails",
        {"subject": "Hi", "text": "Hello", "recipients": ["ann@example.com"]},
        owner="ann",
    )
    [outcomes] = jobs.outputs(own["id"], user=ADMIN)
    mail_server.reset()

    theft = submit_and_wait(
        "send_email",
        {"to": "bob@example.com", "subject": "x", "text": "x", "attachments": [outcomes]},
        owner="bob",
    )
    assert theft["state"] == "FAILURE" and theft["retries"] == 0
    assert theft["error"] == "outcomes.csv is not a file of one of your jobs."

    forged = {**outcomes, "path": "../../etc/passwd"}
    escape = submit_and_wait(
        "send_email",
        {"to": "bob@example.com", "subject": "x", "text": "x", "attachments": [forged]},
        owner="ann",
    )
    assert escape["state"] == "FAILURE"
    assert "upload or an output of one of your jobs" in escape["error"]
    assert mail_server.received == []

    mine = submit_and_wait(
        "send_email",
        {"to": "ann@example.com", "subject": "x", "text": "x", "attachments": [outcomes]},
        owner="ann",
    )
    assert mine["state"] == "SUCCESS", mine["error"]
    [got] = mail_server.wait_for(1)
    assert [p.get_filename() for p in got.message.iter_attachments()] == ["outcomes.csv"]


def test_a_421_is_retried_and_the_message_arrives_exactly_once(workers, mail_server):
    mail_server.defer_next(1)
    record = submit_and_wait(
        "send_email", {"to": "ann@example.com", "subject": "Retry me", "text": "x"}
    )
    assert record["state"] == "SUCCESS", record["error"]
    assert record["retries"] == 1
    time.sleep(0.5)
    assert [r.message["Subject"] for r in mail_server.received] == ["Retry me"]


def test_a_550_fails_at_once_with_the_servers_reason(workers, mail_server):
    mail_server.reject_all_data("550 5.7.1 Message rejected as spam")
    record = submit_and_wait(
        "send_email", {"to": "ann@example.com", "subject": "Buy now", "text": "x"}
    )
    assert record["state"] == "FAILURE"
    assert record["retries"] == 0
    assert "550 5.7.1 Message rejected as spam" in record["error"]
    assert mail_server.received == []


def test_bulk_personalises_each_message_and_reports_every_recipient(workers, mail_server):
    mail_server.reject("gone@example.com")
    csv_file = (
        b"email,first name,plan\n"
        b"ann@example.com,Ann,Pro\n"
        b"not-an-address,Nobody,Free\n"
        b"bob@example.com,<Bob>,Team\n"
        b"gone@example.com,Gone,Free\n"
        b"cat@example.com,Cat,Pro\n"
    )
    record = submit_and_wait(
        "send_bulk_emails",
        {
            "subject": "Your {{ plan }} plan, {{ first_name }}",
            "html": "<p>Dear {{ first_name }}, thanks for choosing {{ plan }}.</p>",
        },
        files=[("customers.csv", csv_file)],
        files_param="csv",
        owner="ann",
    )
    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert (result["total"], result["sent"], result["failed"], result["skipped"]) == (5, 3, 1, 1)
    by_email = {r["email"]: r for r in result["recipients"]}
    assert by_email["not-an-address"]["status"] == "skipped"
    assert by_email["gone@example.com"]["status"] == "failed"
    assert "550 5.1.1 User unknown" in by_email["gone@example.com"]["reason"]
    assert record["progress"]["current"] == record["progress"]["total"] == 4

    received = {r.rcpt_tos[0]: r for r in mail_server.received}
    assert sorted(received) == ["ann@example.com", "bob@example.com", "cat@example.com"]
    assert all(len(r.rcpt_tos) == 1 and r.message["Bcc"] is None for r in received.values())
    assert received["ann@example.com"].message["Subject"] == "Your Pro plan, Ann"
    bob_html = received["bob@example.com"].message.get_body(("html",)).get_content()
    assert "Dear &lt;Bob&gt;, thanks for choosing Team." in bob_html
    assert mail_server.handler.sessions <= 2  # 4 messages over at most 2 reused sessions

    outcomes = jobs.output_bytes(record["id"], "outcomes.csv", user=ADMIN).decode()
    assert "gone@example.com,failed" in outcomes and "not-an-address,skipped" in outcomes


def test_a_template_variable_no_column_provides_fails_before_sending(workers, mail_server):
    record = submit_and_wait(
        "send_bulk_emails",
        {
            "subject": "Hi {{ nickname }}",
            "text": "x",
            "recipients": [{"email": "ann@example.com", "name": "Ann"}],
        },
    )
    assert record["state"] == "FAILURE" and record["retries"] == 0
    assert record["error"] == (
        "The template uses {{ nickname }}, but the recipients have no such column."
    )
    assert mail_server.received == []


def test_the_same_idempotency_key_never_sends_twice(workers, mail_server):
    params = {
        "to": "ann@example.com",
        "subject": "Once",
        "text": "x",
        "idempotency_key": uuid.uuid4().hex,
    }
    first = submit_and_wait("send_email", params)
    second = submit_and_wait("send_email", params)
    assert first["state"] == second["state"] == "SUCCESS"
    assert second["result"]["already_sent"] is True
    assert second["result"]["message_id"] == first["result"]["message_id"]
    time.sleep(0.3)
    assert len(mail_server.received) == 1


def test_notifications_render_their_template_and_check_their_context(workers, mail_server):
    record = submit_and_wait(
        "send_notification",
        {
            "template": "job_finished",
            "to": "ann@example.com",
            "context": {"job_name": "Merge <PDFs>", "job_id": "j-42", "summary": "12 pages"},
        },
    )
    assert record["state"] == "SUCCESS", record["error"]
    [got] = mail_server.wait_for(1)
    msg = got.message
    assert msg["Subject"] == "Finished: Merge <PDFs>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "Merge &lt;PDFs&gt;" in msg.get_body(("html",)).get_content()
    assert "Job j-42 completed successfully" in msg.get_body(("plain",)).get_content()

    bad = submit_and_wait(
        "send_notification", {"template": "job_failed", "to": "ann@example.com", "context": {}}
    )
    assert bad["state"] == "FAILURE" and bad["retries"] == 0
    assert bad["error"] == "The job failed notification needs job_name, job_id and error."


def dispatch_until(mail_server: MailServer, count: int, timeout: float) -> None:
    """Run beat's dispatcher every second, as beat would, until `count` messages arrived."""
    deadline = time.monotonic() + timeout
    while len(mail_server.received) < count:
        assert time.monotonic() < deadline, f"only {len(mail_server.received)} arrived"
        jobs.wait(jobs.submit("dispatch_due_emails", user=SYSTEM), 10, user=ADMIN)
        time.sleep(1)


def schedule(subject: str, seconds: float, owner: str = "ann") -> str:
    due = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    record = submit_and_wait(
        "send_scheduled_email",
        {"send_at": due, "to": "ann@example.com", "subject": subject, "text": "x"},
        owner=owner,
    )
    assert record["state"] == "SUCCESS", record["error"]
    return record["result"]["schedule_id"]


def test_scheduled_emails_are_listed_cancellable_and_sent_when_due(workers, mail_server):
    keep, drop = schedule("Keep me", 8), schedule("Drop me", 8)
    store = ScheduleStore()
    listed = {e.id: e for e in store.list("ann")}
    assert listed[keep].state == listed[drop].state == "scheduled"
    assert store.cancel(drop, owner="bob") == "missing"  # not bob's to cancel
    assert store.cancel(drop, owner="ann") == "cancelled"

    early = jobs.wait(jobs.submit("dispatch_due_emails", user=SYSTEM), 10, user=ADMIN)
    if early["finished_at"] < store.get(keep).due_at:  # a slow box may already be past it
        assert early["result"]["dispatched"] == 0 and mail_server.received == []
    dispatch_until(mail_server, 1, timeout=20)
    time.sleep(1)
    assert [r.message["Subject"] for r in mail_server.received] == ["Keep me"]
    sent = store.get(keep)
    assert sent.state == "dispatched" and jobs.get(sent.job_id, user=ADMIN)["state"] == "SUCCESS"
    assert store.get(drop).state == "cancelled"
    assert store.cancel(keep, owner="ann") == "dispatched"


def test_past_or_impossible_schedule_times_are_refused(workers):
    past = submit_and_wait(
        "send_scheduled_email",
        {
            "send_at": "2020-01-01T09:00",
            "timezone": "Europe/Paris",
            "to": "ann@example.com",
            "subject": "x",
            "text": "x",
        },
    )
    assert past["state"] == "FAILURE" and "is in the past" in past["error"]
    gap = submit_and_wait(
        "send_scheduled_email",
        {
            "send_at": f"{datetime.now(UTC).year + 1}-03-28T02:30",
            "timezone": "Europe/Paris",
            "to": "ann@example.com",
            "subject": "x",
            "text": "x",
        },
    )
    assert gap["state"] == "FAILURE" and "does not exist" in gap["error"]


def test_the_send_ledger_lets_exactly_one_claim_win(redis_url: str):
    ledger, key = SendLedger(), f"race:{uuid.uuid4()}"
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(ledger.claim(key).status)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 7 + ["claimed"]
    ledger.mark_sent(key, "ann", {"message_id": "<m@x>"})
    assert ledger.claim(key).status == "sent"


def test_the_throttle_is_shared_by_every_client(redis_url: str):
    limits = {f"test:{uuid.uuid4()}": 1200}  # one message every 50 ms
    clients = [Throttle(redis.Redis.from_url(redis_url, decode_responses=True)) for _ in range(2)]
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda c=c: [c.wait(limits) for _ in range(10)]) for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 sends at 20 per second take at least 19 intervals, whichever client made them.
    assert time.monotonic() - started >= 0.9


def test_scheduled_emails_survive_a_redis_restart(tmp_path: Path):
    server = redis_server.start(tmp_path / "redis", appendonly=True)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    try:
        store = ScheduleStore(redis.Redis.from_url(server.url, decode_responses=True))
        store.add(
            ScheduledEmail(
                id="durable",
                owner="ann",
                due_at=time.time() + 3600,
                timezone="UTC",
                subject="Tomorrow",
                recipients="a@example.com",
                params={"to": "a@example.com", "subject": "Tomorrow"},
            )
        )
        time.sleep(1.5)  # on disk even with everysec, the laxest mode the README allows
        server.process.kill()  # no SHUTDOWN, no RDB: only the append-only file keeps it
        server.process.wait()
        server = redis_server.start(tmp_path / "redis", port=port, appendonly=True)
        store = ScheduleStore(redis.Redis.from_url(server.url, decode_responses=True))
        [entry] = store.list("ann")
        assert (entry.id, entry.subject, entry.state) == ("durable", "Tomorrow", "scheduled")
        assert store.next_due() == pytest.approx(entry.due_at)
    finally:
        server.stop()


def email_page() -> AppTest:
    at = page_test(str(ROOT / "pages" / "email.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_page_sends_lists_cancels_and_reads_the_local_inbox(workers, mail_server):
    at = email_page()
    at.text_input(key="compose-to").input("ann@example.com")
    at.text_input(key="compose-subject").input("From the page")
    at.text_area(key="compose-html").input("<p>Hi from the <b>page</b></p>").run()
    at.button(key="compose-send").click().run()
    job_id = at.session_state["compose-job"]
    assert jobs.wait(job_id, 30, user=ADMIN)["state"] == "SUCCESS"
    [got] = mail_server.wait_for(1)
    assert got.message["Subject"] == "From the page"

    schedule_id = schedule("Page schedule", 3600, owner=TESTER.id)
    folder = get_settings().var_dir / "mail"
    inbox.store(folder, got.data, got.mail_from, got.rcpt_tos)
    at = email_page()
    shown = {frame.value.columns[0]: frame.value for frame in at.dataframe}
    assert job_id in list(shown["Job"]["Job"])
    assert "From the page" in list(shown["Received"]["Subject"])
    at.button(key=f"cancel-{schedule_id}").click().run()
    assert ScheduleStore().get(schedule_id).state == "cancelled"


def test_a_worker_killed_during_a_bulk_send_loses_and_doubles_nothing(workers, mail_server):
    addresses = [f"person{i:02d}@example.com" for i in range(16)]
    job_id = jobs.submit(
        "send_bulk_emails",
        {
            "subject": "Hello {{ email }}",
            "text": "x",
            "recipients": addresses,
            "rate_per_minute": 600,
        }, user=TESTER
    )  # 10 a second, so the kill lands mid-list
    mail_server.wait_for(4, timeout=30)
    # SMTP has no two-phase commit: a kill between the server's 250 and the ledger write would
    # send that one message again (same Message-ID). Kill in the pause between paced sends,
    # where a paced send spends nearly all its time, not in that millisecond.
    time.sleep(0.03)
    workers.current.kill()
    killed_with = len(mail_server.received)
    assert killed_with < len(addresses)

    # The broker hands the unacknowledged message to a worker once the visibility timeout passed.
    started = jobs.get(job_id, user=ADMIN)["started_at"]
    time.sleep(max(0.0, started + VISIBILITY_TIMEOUT + 0.5 - time.time()))
    workers.current = workers.start()
    record = jobs.wait(job_id, 45, user=ADMIN)
    assert record["state"] == "SUCCESS", record["error"]
    assert record["result"]["sent"] == len(addresses)
    counts = Counter(mail_server.to_addresses())
    assert sorted(counts) == addresses  # none lost
    assert set(counts.values()) == {1}, counts  # none sent twice


def test_a_schedule_due_after_the_visibility_timeout_is_delivered_once(workers, mail_server):
    schedule_id = schedule("After the timeout", VISIBILITY_TIMEOUT + 2)
    workers.replace()  # the schedule lives in Redis, not in any worker
    dispatch_until(mail_server, 1, timeout=40)
    delivered_at = time.monotonic()
    # An ETA message would come back once the visibility timeout passed; this must not.
    while time.monotonic() - delivered_at < VISIBILITY_TIMEOUT + 2:
        jobs.wait(jobs.submit("dispatch_due_emails", user=SYSTEM), 10, user=ADMIN)
        time.sleep(1)
    assert [r.message["Subject"] for r in mail_server.received] == ["After the timeout"]
    assert ScheduleStore().get(schedule_id).state == "dispatched"


def test_scheduling_twice_with_one_key_stores_one_email(workers):
    params = {
        "send_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "to": "ann@example.com",
        "subject": "Just once",
        "text": "x",
        "idempotency_key": uuid.uuid4().hex,
    }
    owner = f"zoe-{uuid.uuid4().hex[:8]}"  # the module runs once per store, on one Redis
    first = submit_and_wait("send_scheduled_email", params, owner=owner)
    second = submit_and_wait("send_scheduled_email", params, owner=owner)
    assert first["result"]["schedule_id"] == second["result"]["schedule_id"]
    assert [e.subject for e in ScheduleStore().list(owner)] == ["Just once"]


def test_a_vertical_tab_in_one_subject_fails_that_recipient_only(workers, mail_server):
    # A \x0b is a line break to the email package: in a long folded subject it once raised an
    # unclassified HeaderParseError that ended the whole bulk job.
    topic = "the migration plan for all of the regional offices and their teams\x0bNote: today"
    csv_file = (
        "email,topic\n"
        "ann@example.com,the budget\n"
        f"bob@example.com,{topic}\n"
        "cat@example.com,the offsite\n"
    ).encode()
    record = submit_and_wait(
        "send_bulk_emails",
        {"subject": "An update on {{ topic }} from the planning office", "text": "x"},
        files=[("customers.csv", csv_file)],
        files_param="csv",
        owner="ann",
    )
    assert record["state"] == "SUCCESS", record["error"]
    result = record["result"]
    assert (result["sent"], result["failed"]) == (2, 1)
    bob = next(r for r in result["recipients"] if r["email"] == "bob@example.com")
    assert bob["status"] == "failed"
    assert bob["reason"] == (
        "The subject contains a line break, which is not allowed in an email header."
    )
    assert sorted(r.rcpt_tos[0] for r in mail_server.received) == [
        "ann@example.com", "cat@example.com"
    ]


def test_attachments_uploaded_on_the_bulk_tab_reach_every_recipient(workers, mail_server):
    at = email_page()
    at.file_uploader(key="bulk-csv").set_value(
        [("people.csv", b"email,name\nann@example.com,Ann\nbob@example.com,Bob\n", "text/csv")]
    ).run()
    at.file_uploader(key="bulk-up").set_value(
        [("terms.pdf", b"%PDF-1.7 terms", "application/pdf")]
    ).run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Send to 2 recipients").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["bulk-job"], 30, user=ADMIN)
    assert record["state"] == "SUCCESS", record["error"]
    assert record["result"]["sent"] == 2
    received = {r.rcpt_tos[0]: r.message for r in mail_server.wait_for(2)}
    assert sorted(received) == ["ann@example.com", "bob@example.com"]
    for message in received.values():
        [part] = list(message.iter_attachments())
        assert (part.get_filename(), part.get_content()) == ("terms.pdf", b"%PDF-1.7 terms")


def wait_until_stopped(job_id: str, user: User, timeout: float = 15) -> dict:
    """The job's record once its worker confirmed the cancel (`stopped_at`)."""
    deadline = time.monotonic() + timeout
    while not (record := jobs.get(job_id, user=user)).get("stopped_at"):
        assert time.monotonic() < deadline, f"the worker never confirmed the cancel: {record}"
        time.sleep(0.05)
    return record


def test_a_cancelled_bulk_send_stops_at_once_and_says_how_many_went_out(workers, mail_server):
    ann = User("ann")
    # One a second: as slow as this module's 10-second visibility timeout lets a job be.
    recipients = [f"slow{i}@example.com" for i in range(5)]
    params = {"subject": "Slow", "text": "One a second", "recipients": recipients,
              "rate_per_minute": 60}
    job_id = jobs.submit("send_bulk_emails", params, user=ann)
    deadline = time.monotonic() + 20
    while len(mail_server.received) < 2:
        assert time.monotonic() < deadline, jobs.get(job_id, user=ann)
        time.sleep(0.05)
    assert jobs.cancel(job_id, user=ann)

    record = wait_until_stopped(job_id, ann, timeout=5)  # the throttle's wait noticed it
    sent = len(mail_server.received)
    time.sleep(3)  # three more throttle slots: nothing may go out after the confirmation
    assert len(mail_server.received) == sent < 5
    record = jobs.get(job_id, user=ann)
    assert record["state"] == "REVOKED"
    assert record["error"] == f"{sent} of 5 sent before the cancel."
    assert record["progress"]["current"] == sent
    assert record["progress"]["message"].startswith(f"{sent} sent,")
    outcomes = jobs.output_bytes(job_id, "outcomes.csv", user=ann).decode()
    assert outcomes.count(",sent,") == sent


def test_the_page_words_recipients_variables_and_times_plainly(workers):
    at = email_page()
    at.file_uploader(key="bulk-csv").set_value(
        [("one.csv", b"email,name\nann@example.com,Ann\n", "text/csv")]
    ).run()
    assert not at.exception, at.exception
    listing = next(m.value for m in at.markdown if "variables:" in m.value)
    assert listing.startswith("**1 recipient**;") and listing.count("{{ name }}") == 1

    schedule("Later today", 3600, owner=TESTER.id)
    at = email_page()
    due = " ".join(m.value for m in at.markdown if "(in " in m.value)
    assert re.search(r"\(in (60 min|1 h)\)", due), due
    assert not re.search(r"\d{4}-\d\d-\d\dT", due)
