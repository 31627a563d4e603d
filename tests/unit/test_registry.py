"""Registry paging and filters, against the session's real redis-server.

Each test gets its own key prefix, so counts are exact without flushing anything.
"""

from __future__ import annotations

import uuid

import pytest

from app.registry import Registry, summarize_params


@pytest.fixture
def registry(redis_client) -> Registry:
    return Registry(redis_client, prefix=f"t-{uuid.uuid4().hex[:8]}")


def _add(registry: Registry, n: int, **overrides) -> list[str]:
    ids = []
    for i in range(n):
        job_id = f"job-{uuid.uuid4().hex[:10]}"
        fields = {"kind": "process_pdf", "name": "app.tasks.file_tasks.process_pdf",
                  "queue": "files", "owner": "ada", "params": {"n": i}}
        fields.update(overrides)
        registry.create(job_id, submitted_at=1_000_000 + len(ids) + i * 0.001, **fields)
        ids.append(job_id)
    return ids


def test_pages_are_newest_first_and_cover_everything_once(registry) -> None:
    ids = _add(registry, 23)
    seen = []
    offset = 0
    while True:
        page = registry.list(offset=offset, limit=10)
        seen += [job["id"] for job in page.jobs]
        assert page.total == 23
        if not page.has_more:
            break
        offset += 10
    assert seen == list(reversed(ids))


def test_filters_by_state_queue_kind_and_owner(registry) -> None:
    pdfs = _add(registry, 5)
    mails = _add(registry, 4, kind="send_email", name="app.tasks.email_tasks.send_email",
                 queue="email", owner="bob")
    registry.transition(pdfs[0], "SUCCESS")
    registry.transition(mails[1], "FAILURE", error="Mailbox unavailable")

    assert registry.list(queue="email").total == 4
    assert registry.list(kind="process_pdf").total == 5
    assert registry.list(owner="bob").total == 4
    assert [j["id"] for j in registry.list(state="SUCCESS").jobs] == [pdfs[0]]
    assert [j["id"] for j in registry.list(state="FAILURE", owner="bob").jobs] == [mails[1]]
    assert registry.list(state="QUEUED", queue="files").total == 4
    assert registry.list(state="FAILURE", owner="ada").total == 0
    assert [j["id"] for j in registry.dead_letters().jobs] == [mails[1]]  # in the same step


def test_text_search_finds_params_and_errors(registry) -> None:
    ids = _add(registry, 6)
    registry.transition(ids[2], "FAILURE", error="This PDF is password-protected.")
    page = registry.list(text="PASSWORD-protected")
    assert [j["id"] for j in page.jobs] == [ids[2]]
    assert page.total is None  # a bounded scan, not a count


def test_finished_jobs_never_move_back(registry) -> None:
    (job_id,) = _add(registry, 1)
    assert registry.transition(job_id, "SUCCESS", finished_at=5.0)
    assert not registry.transition(job_id, "STARTED")
    assert not registry.set_progress(job_id, 1, 2)
    record = registry.get(job_id)
    assert record["state"] == "SUCCESS"
    assert registry.list(state="STARTED").total == 0
    assert registry.list(state="SUCCESS").total == 1


def test_create_is_idempotent(registry) -> None:
    (job_id,) = _add(registry, 1)
    registry.transition(job_id, "STARTED")
    assert not registry.create(job_id, kind="x", name="x", queue="files", owner="eve")
    record = registry.get(job_id)
    assert record["state"] == "STARTED" and record["owner"] == "ada"


def test_secrets_are_redacted_and_kept_out_of_retry_params(registry) -> None:
    job_id = "job-secret"
    registry.create(job_id, kind="process_pdf", name="n", queue="files", owner="ada",
                    params={"password": "hunter2", "api_key": "sk-1", "pages": "1-3"})
    record = registry.get(job_id)
    assert record["params"]["password"] == "********"
    assert "hunter2" not in str(registry.redis.hgetall(registry.job_key(job_id)))
    assert registry.kwargs(job_id) == {"pages": "1-3"}


def test_long_params_and_file_refs_are_summarised() -> None:
    summary = summarize_params({
        "text": "x" * 10_000,
        "files": [{"path": "jobs/1/in/a.pdf", "name": "a.pdf", "type": "pdf", "size": 3}],
    })
    assert len(summary["text"]) < 400 and "10,000 characters" in summary["text"]
    assert summary["files"] == [{"name": "a.pdf", "type": "pdf", "size": 3}]


def test_children_and_retry_links(registry) -> None:
    (parent,) = _add(registry, 1)
    registry.create("child-1", kind="process_pdf", name="n", queue="files", owner="ada",
                    parent=parent)
    registry.create("again", kind="process_pdf", name="n", queue="files", owner="ada",
                    retry_of=parent)
    assert registry.get(parent)["children"] == ["child-1"]
    assert registry.get(parent)["retried_by"] == "again"
    assert registry.get("child-1")["parent"] == parent


def test_trim_removes_old_finished_jobs_and_their_index_entries(registry) -> None:
    old = _add(registry, 3)
    for job_id in old[:2]:
        registry.transition(job_id, "SUCCESS")
    assert registry.trim(older_than=2_000_000) == 2
    assert registry.list().total == 1  # the unfinished one stays
    assert registry.list(state="SUCCESS").total == 0
    assert registry.get(old[0]) is None


def test_result_too_large_is_clipped(registry) -> None:
    (job_id,) = _add(registry, 1)
    registry.transition(job_id, "SUCCESS", result={"text": "y" * 200_000})
    result = registry.get(job_id)["result"]
    assert "too large" in result["note"]
    assert len(result["preview"]) <= 4000


def test_a_page_read_is_independent_of_history_size(registry) -> None:
    _add(registry, 2000)
    commands = []
    original = registry.redis.execute_command

    def counting(*args, **kwargs):
        commands.append(args[0])
        return original(*args, **kwargs)

    registry.redis.execute_command = counting
    try:
        page = registry.list(limit=25)
    finally:
        registry.redis.execute_command = original
    assert len(page.jobs) == 25
    assert "KEYS" not in commands and "SCAN" not in commands
    assert len(commands) <= 3  # ZREVRANGE, ZCARD and one pipeline of HGETALLs


def test_first_page_of_a_combined_filter_is_never_stale(registry) -> None:
    _add(registry, 3)
    assert registry.list(state="QUEUED", owner="ada").total == 3
    (newest,) = _add(registry, 1)
    page = registry.list(state="QUEUED", owner="ada")
    assert page.total == 4 and newest in [j["id"] for j in page.jobs]
