"""No password or message body is readable anywhere in Redis or in Flower.

A password-protected PDF (alone and in a batch) and a bulk send with a long body run on a real
worker; every key of the test Redis, of every type, is then read whole, base64 runs decoded
(kombu encodes message bodies), and searched. Flower, watching the same events, must not show
them either.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from app import jobs
from app.auth import SYSTEM, User
from app.connection import get_registry
from app.mail.store import ScheduleStore
from tests.integration.test_flower import auth, get
from tests.integration.test_flower import flower as flower  # a fixture, used by name
from tests.support.mail_server import MailServer
from tests.support.pages import page_test
from tests.support.processes import Proc, start_worker
from tests.support.users import ADMIN
from tests.unit.office import samples

pytestmark = pytest.mark.integration

PASSWORD = "Zebra-pw-8841-quill"
PHRASE = "marmalade heron protocol"
BODY = f"<p>Dear reader, the {PHRASE} starts on Monday.</p>" + "<p>Details follow.</p>" * 400
ANN = User("ann@example.com")
ROOT = Path(__file__).resolve().parents[2]
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{16,}")


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(session_dir: Path, mail_server: MailServer) -> Iterator[Proc]:
    """Every queue, sending to the module's SMTP server (Flower's fixture asks for it)."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail_server.port),
           "SMTP_SECURITY": "none", "EMAIL_RATE_PER_MINUTE": "6000"}
    proc = start_worker(logs, concurrency=2, env=env)
    yield proc
    proc.stop()


def readable(data: bytes) -> bytes:
    """The bytes with every base64 run decoded and appended, so encoded bodies are searched too."""
    decoded = []
    for run in _BASE64_RUN.findall(data):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded.append(decode(run + b"=" * (-len(run) % 4)))
            except (binascii.Error, ValueError):
                continue
    return data + b"\n".join(decoded)


def every_value(client: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, contents) for every key in the database, whatever its type."""
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            parts = [client.get(key) or b""]
        elif kind == b"hash":
            parts = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == b"list":
            parts = client.lrange(key, 0, -1)
        elif kind == b"set":
            parts = list(client.smembers(key))
        elif kind == b"zset":
            parts = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            parts = [b for _, fields in client.xrange(key) for pair in fields.items() for b in pair]
        else:
            parts = []
        yield key, readable(key + b"\n" + b"\n".join(parts))


def leaks(client: redis.Redis) -> list[tuple[bytes, str]]:
    """The keys where the password or the body's phrase can be read."""
    needles = {PASSWORD: PASSWORD.encode(), PHRASE: PHRASE.encode()}
    return [(key, name) for key, data in every_value(client)
            for name, needle in needles.items() if needle in data]


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_the_scan_finds_a_base64_encoded_secret(raw: redis.Redis) -> None:
    """The search below can fail: a kombu-style encoded body is found."""
    key = f"canary:{uuid.uuid4().hex}"
    body = base64.b64encode(json.dumps([[], {"password": PASSWORD}, {}]).encode())
    raw.lpush(key, json.dumps({"body": body.decode(), "content-encoding": "utf-8"}))
    try:
        assert (key.encode(), PASSWORD) in leaks(raw)
    finally:
        raw.delete(key)


def test_no_password_or_body_in_redis_or_flower(
    flower: str, worker: Proc, mail_server: MailServer, raw: redis.Redis, tmp_path: Path
) -> None:
    locked = samples.encrypted_pdf(tmp_path / "locked.pdf", PASSWORD)
    upload = [(locked.name, locked.read_bytes())]
    # An ETA holds the message in Redis (queue, then unacked) while we look at it.
    soon = datetime.now(UTC) + timedelta(seconds=3)
    pdf = jobs.submit("process_pdf", {"operations": ["extract_text"], "password": PASSWORD},
                      files=upload, user=ANN, eta=soon)
    batch = jobs.submit("batch_process_files", {"operations": ["extract_text"],
                        "password": PASSWORD}, files=upload, user=ANN, eta=soon)
    bulk = jobs.submit("send_bulk_emails", {"subject": "Launch", "html": BODY, "recipients": [
        "ann@example.com", "bob@example.com", "cat@example.com"]}, user=ANN, eta=soon)
    assert leaks(raw) == []

    for job_id in (pdf, batch, bulk):
        record = jobs.wait(job_id, timeout=90, user=ANN)
        assert record["state"] == "SUCCESS", record["error"]
    plan = jobs.wait(batch, user=ANN)["result"]
    assert plan["succeeded"] == 1
    # Ended jobs keep no secrets, not even encrypted ones: the batch's, its child's, the PDF's.
    ended = [pdf, batch, plan["files"][0]["job_id"]]
    assert [raw.exists(f"nexus:vault:{job_id}") for job_id in ended] == [0, 0, 0]
    assert len(mail_server.received) == 3
    assert PHRASE in mail_server.received[0].message.get_body(("html",)).get_content()
    assert leaks(raw) == []

    tasks = flower_tasks(flower, {pdf, batch, bulk})
    assert PASSWORD not in tasks and PHRASE not in tasks


def flower_tasks(url: str, job_ids: set[str], timeout: float = 30.0) -> str:
    """Flower's task list once it has seen every job in `job_ids`, as the API's text."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(f"{url}/api/tasks", auth=auth())
        assert status == 200, body
        if all(job_id in body for job_id in job_ids) or time.monotonic() > deadline:
            assert all(job_id in body for job_id in job_ids), body[:2000]
            return body
        time.sleep(0.5)


def test_a_retry_after_the_password_is_gone_asks_for_it_again(worker: Proc, tmp_path: Path):
    person = User(f"pw-{uuid.uuid4().hex[:8]}@example.com")
    locked = samples.encrypted_pdf(tmp_path / "locked.pdf", PASSWORD)
    job_id = jobs.submit("process_pdf", {"operations": ["extract_text"], "password": "wrong"},
                         files=[(locked.name, locked.read_bytes())], user=person)
    record = jobs.wait(job_id, timeout=60, user=person)
    assert record["state"] == "FAILURE"
    with pytest.raises(ValueError, match="give the password again"):
        jobs.retry(job_id, user=person)

    at = page_test(str(ROOT / "pages/task_monitor.py"), user=person)
    at.run()
    at.text_input(key="detail_id").input(job_id).run()
    at.button(key="act_retry").click().run()
    assert not at.exception, at.exception
    assert any("give the password again" in e.value for e in at.error)
    at.button(key=f"dl_retry_{job_id}").click().run()
    assert not at.exception, at.exception
    assert sum("give the password again" in e.value for e in at.error) == 1

    admin = page_test(str(ROOT / "pages/task_monitor.py"), user=ADMIN)
    admin.run()
    admin.text_input(key="f_owner").input(person.id).run()
    admin.button(key="retry_all").click().run()
    assert not admin.exception, admin.exception
    assert [s.value for s in admin.success] == ["Resubmitted 0 failed jobs."]
    assert any("give the password again" in w.value for w in admin.warning)
    assert jobs.get(job_id, user=person).get("retried_by") in (None, "")


def test_a_dispatched_scheduled_email_carries_its_body_by_reference(
    flower: str, worker: Proc, mail_server: MailServer
) -> None:
    """The schedule store keeps the body until it is due; the send job's message does not."""
    phrase = f"periwinkle ledger {uuid.uuid4().hex[:6]}"
    text = f"The {phrase} closes today.\n" + "More lines follow.\n" * 400
    due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    asked = jobs.wait(jobs.submit("send_scheduled_email", {
        "send_at": due, "to": "ann@example.com", "subject": "Later", "text": text}, user=ANN),
        30, user=ANN)
    assert asked["state"] == "SUCCESS", asked["error"]
    store = ScheduleStore()
    deadline = time.monotonic() + 30
    while store.get(asked["result"]["schedule_id"]).state != "dispatched":
        assert time.monotonic() < deadline, "the scheduled email was never dispatched"
        jobs.wait(jobs.submit("dispatch_due_emails", user=SYSTEM), 10, user=ADMIN)
        time.sleep(0.5)
    sent_id = store.get(asked["result"]["schedule_id"]).job_id
    assert jobs.wait(sent_id, 30, user=ANN)["state"] == "SUCCESS"
    assert set(get_registry().kwargs(sent_id)["text"]) == {"$file"}
    tasks = flower_tasks(flower, {asked["id"], sent_id})
    assert phrase not in tasks
