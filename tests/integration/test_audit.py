"""The audit log against the real Redis and a real worker: what gets recorded, and the search
only admins may use."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from app import audit, jobs, monitor, myfiles
from app.auth import NotAllowed, User
from app.connection import get_redis
from tests.support.pages import page_test
from tests.support.users import ADMIN
from tests.unit.office import samples

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def person(name: str) -> User:
    return User(f"{name}-{uuid.uuid4().hex[:8]}@example.com", name.title())


def actions(user: User) -> list[tuple[str, str]]:
    return [(e.action, e.target) for e in audit.search(actor=user.id, user=ADMIN).entries]


def test_submit_cancel_download_and_delete_are_recorded(worker) -> None:
    alice = person("alice")
    slow = jobs.submit("sample_job", {"steps": 50, "step_seconds": 0.2}, user=alice,
                       client="192.0.2.7")
    assert jobs.cancel(slow, user=alice, client="192.0.2.7")
    done = jobs.submit("process_image", {"operations": ["thumbnail"]},
                       files=[("pic.png", samples.png_bytes())], user=alice)
    jobs.wait(done, timeout=60, user=alice)
    output = jobs.outputs(done, user=alice)[0]["name"]
    jobs.output_bytes(done, output, user=alice)
    jobs.zip_outputs(done, user=alice)
    myfiles.input_bytes(done, "pic.png", user=alice)
    assert myfiles.delete_files([f"{done}/in/pic.png"], user=alice).deleted

    assert actions(alice) == [
        ("file.delete", f"{done}/in/pic.png"),
        ("file.download", f"{done}/in/pic.png"),
        ("file.download", f"{done}/out/*.zip"),
        ("file.download", f"{done}/out/{output}"),
        ("job.submit", done),
        ("job.cancel", slow),
        ("job.submit", slow),
    ]
    first = audit.search(actor=alice.id, action="job.submit", user=ADMIN).entries[-1]
    assert (first.detail, first.client) == ("sample_job", "192.0.2.7")
    assert abs(first.at - time.time()) < 120


def test_someone_elses_job_leaves_no_entry(redis_client) -> None:
    alice, bob = person("alice"), person("bob")
    job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=alice)
    assert not jobs.cancel(job_id, user=bob)
    assert actions(bob) == []


def test_purge_and_sign_ins_are_recorded(redis_client) -> None:
    admin = User(f"admin-{uuid.uuid4().hex[:8]}@example.com", is_admin=True)
    monitor.purge("reports", user=admin, client="198.51.100.1")
    audit.record_sign_in(admin, client="198.51.100.1")
    audit.record_sign_in("mallory@example.com", refused="Your sign-in did not include an email.")
    assert actions(admin) == [("sign-in", ""), ("queue.purge", "reports")]
    refused = audit.search(actor="mallory@example.com", user=ADMIN).entries[0]
    assert (refused.action, refused.detail) == (
        "sign-in.refused", "Your sign-in did not include an email."
    )


def record_apart(tag: str, count: int) -> list[str]:
    """Entries at least a few milliseconds apart, so a time range can fall between them."""
    ids = []
    for i in range(count):
        ids.append(audit.record("robot@example.com", "test.step", f"t{i}", f"{tag} step {i}"))
        time.sleep(0.005)
    return ids


def stamp(entry_id: str) -> float:
    return int(entry_id.split("-")[0]) / 1000


def test_search_pages_newest_first_and_filters(redis_client) -> None:
    tag = uuid.uuid4().hex
    ids = record_apart(tag, 5)
    seen, before = [], None
    while True:
        page = audit.search(text=tag, limit=2, before=before, user=ADMIN)
        seen += [e.id for e in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == ids[::-1]
    middle = audit.search(text=tag, since=stamp(ids[1]), until=stamp(ids[3]), user=ADMIN)
    assert [e.id for e in middle.entries] == ids[3:0:-1]
    assert audit.search(text=tag, action="job.submit", user=ADMIN).entries == []
    assert len(audit.search(text=tag, actor="ROBOT@example.com", user=ADMIN).entries) == 5


def test_search_is_for_admins_only(redis_client) -> None:
    with pytest.raises(NotAllowed):
        audit.search(user=person("alice"))


def test_entries_older_than_the_retention_are_trimmed(redis_client) -> None:
    audit.record("robot@example.com", "test.old")
    assert audit.trim() == 0  # nothing is older than the retention yet
    length = get_redis().xlen(audit.key())
    assert length > 0 and audit.search(action="test.old", user=ADMIN).entries


def test_recording_never_raises(redis_client, monkeypatch) -> None:
    # A stream key of the wrong type makes XADD fail for real, as a broken Redis would.
    monkeypatch.setattr(audit, "key", lambda: "audit-test-not-a-stream")
    get_redis().set("audit-test-not-a-stream", "x")
    assert audit.record("robot@example.com", "test.fail") is None


def test_audit_page_searches_for_admins_only(redis_client) -> None:
    tag = uuid.uuid4().hex
    audit.record("robot@example.com", "test.page", "target-1", tag, "203.0.113.5")
    at = page_test(ROOT / "pages/audit.py", user=ADMIN)
    at.session_state["audit_text"] = tag
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Target"]) == ["target-1"] and list(table["From"]) == ["203.0.113.5"]

    at = page_test(ROOT / "pages/audit.py", user=person("alice")).run()
    assert [e.value for e in at.error] == ["This page is for admins."]
    assert not at.dataframe
