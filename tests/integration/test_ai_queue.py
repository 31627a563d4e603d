"""The ai queue through real workers, real Redis, the real SDKs and the wire-format server.

Workers read their settings from the environment, so these tests start their own ai workers
pointed at the fake provider, and take the ai queue away from any other worker while they run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest

from app import jobs, monitor
from app.ai import store as ai_store
from app.auth import User
from tests.support.fake_ai import GOOD_KEY, Failure, FakeAIServer
from tests.support.pages import page_test
from tests.support.processes import ROOT, Proc, start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration

LONG_TEXT = "\n\n".join(
    f"Item {n}. The committee reviewed budget line {n} and approved it. " + "Costs held. " * 60
    for n in range(1, 6)
)


def ai_env(server: FakeAIServer, **extra: str) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": GOOD_KEY,
        "ANTHROPIC_BASE_URL": server.url,
        "OPENAI_API_KEY": GOOD_KEY,
        "OPENAI_BASE_URL": server.openai_url,
        "OPENAI_MODEL": "llama3.1",
        "AI_TIMEOUT": "10",
        "AI_CONTEXT_TOKENS": "1000",  # long documents split into several parts
        "AI_REQUESTS_PER_MINUTE": "8",  # no test needs more; the limiter test shows it holds
        **extra,
    }


_PAUSED: set[str] = set()


@contextmanager
def ai_queue_only_for(keep: list[str]) -> Iterator[None]:
    """Other workers stop reading the ai queue meanwhile: they do not know the fake provider."""
    from config.celery_config import celery_app

    others = [
        w.hostname
        for w in monitor.workers()
        if w.online and "ai" in w.queues and w.hostname not in keep and w.hostname not in _PAUSED
    ]
    if others:
        celery_app.control.cancel_consumer("ai", destination=others, reply=True, timeout=3)
        _PAUSED.update(others)
    try:
        yield
    finally:
        if others:
            celery_app.control.add_consumer("ai", destination=others, reply=True, timeout=3)
            _PAUSED.difference_update(others)


def stored_text(client, pattern: str) -> str:
    """Everything Redis holds under keys matching `pattern`, as one string to search."""
    readers = {
        "hash": client.hgetall,
        "string": client.get,
        "list": lambda k: client.lrange(k, 0, -1),
        "set": client.smembers,
        "zset": lambda k: client.zrange(k, 0, -1),
    }
    return "\n".join(str(readers[client.type(k)](k)) for k in client.scan_iter(pattern))


@pytest.fixture(scope="module")
def fake_ai() -> Iterator[FakeAIServer]:
    with FakeAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def ai_worker(worker: Proc, fake_ai: FakeAIServer, session_dir: Path) -> Iterator[Proc]:
    """A threads-pool ai worker configured for the fake provider; the session worker runs the
    other queues (the files queue for the extraction chain)."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    proc = start_worker(logs, queues=("ai",), pool="threads", concurrency=4, env=ai_env(fake_ai))
    with ai_queue_only_for([proc.hostname]):
        yield proc
    proc.stop()
    assert GOOD_KEY not in proc.log()  # the key never reached a log line


@pytest.fixture
def fake(fake_ai: FakeAIServer, redis_client) -> FakeAIServer:
    fake_ai.clear()
    for key in redis_client.scan_iter("nexus:ai:rate:*"):
        redis_client.delete(key)  # a fresh rate window for every test
    return fake_ai


def test_completion_succeeds_with_usage_and_no_key_anywhere(ai_worker, fake, redis_client) -> None:
    before = ai_store.usage_by_day(1)[0]["requests"]
    job_id = jobs.submit("claude_completion", {"prompt": "Say hello"}, user=User("ada"))
    record = jobs.wait(job_id, timeout=30, user=ADMIN)

    assert record["state"] == "SUCCESS", record.get("error")
    result = record["result"]
    assert result["text"] == "Answer #1 to: Say hello"
    assert result["provider"] == "anthropic" and result["model"] == "claude-sonnet-5-5"
    assert result["usage"]["input_tokens"] > 0 and result["usage"]["cost_usd"] > 0
    assert ai_store.usage_by_day(1)[0]["requests"] == before + 1
    stored = stored_text(redis_client, f"*{job_id}*")
    assert "Say hello" in stored and GOOD_KEY not in stored


@pytest.mark.parametrize(("status", "wait"), [(429, 1.0), (529, None)])
def test_rate_limited_or_overloaded_requests_retry_then_succeed(
    ai_worker, fake, status: int, wait: float | None
) -> None:
    fake.fail_next("anthropic", status, retry_after=wait)
    job_id = jobs.submit("claude_completion", {"prompt": f"Retry after {status}"}, user=TESTER)
    record = jobs.wait(job_id, timeout=40, user=ADMIN)

    assert record["state"] == "SUCCESS", record.get("error")
    assert record["retries"] == 1
    first, second = fake.requests("anthropic")
    assert second.at - first.at >= (wait or 1.0)  # Retry-After honoured, backoff otherwise


def test_a_refused_key_fails_at_once_with_a_clear_sentence(ai_worker, fake) -> None:
    fake.fail_next("openai", 401, message=f"Incorrect API key provided: {GOOD_KEY[:12]}***")
    job_id = jobs.submit("openai_completion", {"prompt": "Hello"}, user=TESTER)
    record = jobs.wait(job_id, timeout=30, user=ADMIN)

    assert record["state"] == "FAILURE"
    assert record["retries"] == 0 and len(fake.requests()) == 1
    assert record["error"] == (
        "The OpenAI-compatible server rejected the API key (401). Check OPENAI_API_KEY."
    )


def test_a_long_text_file_is_analysed_in_parts(ai_worker, fake) -> None:
    job_id = jobs.submit(
        "analyze_document",
        {"analysis": "key_points"},
        files=[("minutes.txt", LONG_TEXT.encode())], user=TESTER
    )
    record = jobs.wait(job_id, timeout=60, user=ADMIN)

    assert record["state"] == "SUCCESS", record.get("error")
    result = record["result"]
    assert result["chunks"] > 1
    assert result["text"] == f"Combined answer from {result['chunks']} notes."
    assert len(fake.requests()) == result["chunks"] + 1 == result["usage"]["requests"]
    assert f"read in {result['chunks']} parts" in result["notes"][0]
    assert jobs.output_bytes(job_id, "key_points.md", user=ADMIN).decode() == result["text"]


def test_a_word_document_is_extracted_on_the_files_queue_then_analysed(ai_worker, fake) -> None:
    from docx import Document

    document = Document()
    document.add_paragraph("Quarterly review. Revenue grew in every region.")
    buffer = io.BytesIO()
    document.save(buffer)
    job_id = jobs.submit(
        "analyze_document",
        {"analysis": "summary"},
        files=[("review.docx", buffer.getvalue())],
        user=User("ada"),
    )
    first = jobs.wait(job_id, timeout=30, user=ADMIN)
    assert first["state"] == "SUCCESS", first.get("error")

    extraction = jobs.wait(first["result"]["extract_job"], timeout=60, user=ADMIN)
    analysis = jobs.wait(first["result"]["analysis_job"], timeout=60, user=ADMIN)
    assert extraction["queue"] == "files" and extraction["state"] == "SUCCESS"
    assert analysis["state"] == "SUCCESS", analysis.get("error")
    assert analysis["owner"] == "ada"
    [seen] = fake.requests()
    assert "Revenue grew in every region." in seen.last_user_text


def test_a_chat_is_stored_and_resumed_with_its_history_in_order(ai_worker, fake) -> None:
    first = jobs.wait(
        jobs.submit("chat_completion", {"message": "My name is Ada."}, user=User("ada")),
        timeout=30,
        user=ADMIN,
    )
    assert first["state"] == "SUCCESS", first.get("error")
    conversation_id = first["result"]["conversation_id"]

    second = jobs.wait(
        jobs.submit(
            "chat_completion",
            {
                "message": "What is my name?",
                "conversation_id": conversation_id,
                "provider": "openai",
            },
            user=User("ada"),
        ),
        timeout=30,
        user=ADMIN,
    )
    assert second["state"] == "SUCCESS", second.get("error")

    last = fake.requests("openai")[-1]  # the provider switched for the second turn
    assert [(m["role"], m["content"]) for m in last.messages if m["role"] != "system"] == [
        ("user", "My name is Ada."),
        ("assistant", first["result"]["text"]),
        ("user", "What is my name?"),
    ]
    stored = ai_store.load_conversation(conversation_id)
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2
    assert stored["model"] == "llama3.1"
    assert conversation_id in [c["id"] for c in ai_store.list_conversations("ada")]


def test_someone_elses_conversation_is_refused(ai_worker, fake) -> None:
    mine = ai_store.create_conversation("ada", "Private")
    record = jobs.wait(
        jobs.submit(
            "chat_completion", {"message": "Hi", "conversation_id": mine["id"]}, user=User("eve")
        ),
        timeout=30,
        user=ADMIN,
    )
    assert record["state"] == "FAILURE"
    # Someone else's conversation answers as one that does not exist.
    assert record["error"] == "That conversation no longer exists; start a new one."
    assert fake.requests() == []


def test_a_batch_with_one_failing_item(ai_worker, fake) -> None:
    fake.fail_on_word["FORBIDDEN"] = Failure(400, message="That request is not allowed.")
    rows = "prompt\n" + "\n".join(f"Question {n}" for n in range(5)) + "\nA FORBIDDEN one\n"
    job_id = jobs.submit(
        "batch_ai_requests", {"concurrency": 3}, files=[("prompts.csv", rows.encode())],
        user=TESTER,
    )
    record = jobs.wait(job_id, timeout=60, user=ADMIN)

    assert record["state"] == "SUCCESS", record.get("error")
    result = record["result"]
    assert (result["total"], result["succeeded"], result["failed"]) == (6, 5, 1)
    assert result["items"][5]["status"] == "failed"
    assert "That request is not allowed." in result["items"][5]["error"]
    assert record["progress"]["current"] == record["progress"]["total"] == 6
    table = list(
        csv.DictReader(io.StringIO(
            jobs.output_bytes(job_id, "results.csv", user=ADMIN).decode("utf-8-sig")
        ))
    )
    assert [r["status"] for r in table] == ["ok"] * 5 + ["failed"]
    assert [r["attempts"] for r in table] == ["1"] * 6  # a refusal is not tried again
    assert all("e-" not in r["cost_usd"] for r in table)  # never 7.3e-05
    sheet = load_workbook(io.BytesIO(jobs.output_bytes(job_id, "results.xlsx", user=ADMIN))).active
    assert sheet.max_row == 7


def test_the_rate_limit_holds_across_two_worker_processes(
    ai_worker, fake, session_dir: Path
) -> None:
    """Two worker processes, six jobs running at once, ten submitted: eight requests a minute."""
    second = start_worker(
        session_dir / "logs", ("ai",), pool="threads", concurrency=2, env=ai_env(fake)
    )
    ids: list[str] = []
    try:
        with ai_queue_only_for([ai_worker.hostname, second.hostname]):
            ids = [
                jobs.submit("claude_completion", {"prompt": f"limited {n}"}, user=TESTER)
                for n in range(10)
            ]
            deadline = time.monotonic() + 30
            while len(fake.requests()) < 8 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(3)  # the other jobs are running too, waiting for the window
            records = [jobs.get(i, user=ADMIN) for i in ids]
            assert len(fake.requests()) == 8
            assert sum(r["state"] == "SUCCESS" for r in records) == 8
            waiting = [r for r in records if r["state"] != "SUCCESS"]
            assert len(waiting) == 2 and all(r["state"] == "PROGRESS" for r in waiting)
            for record in waiting:  # they say why they do not move
                assert re.fullmatch(r"Waiting for the AI rate limit \(about \d+ s\)",
                                    record["progress"]["message"]), record["progress"]
            ran = {r["worker"] for r in records if r.get("worker")}
            assert ran == {ai_worker.hostname, second.hostname}
            for record in waiting:  # cancelling stops the wait: the jobs never call out
                assert jobs.cancel(record["id"], user=ADMIN)
            time.sleep(2)
            assert len(fake.requests()) == 8
    finally:
        second.kill()
        for job_id in ids:
            jobs.cancel(job_id, user=ADMIN)


RESERVER = """
import json, sys, time
from app.ai.store import RateLimiter
limiter = RateLimiter(requests=5, tokens=10**6, window=3, max_wait=10)
for _ in range(4):
    limiter.reserve("shared-test", 10)
    print(json.dumps(time.time()), flush=True)
"""


def test_the_limiter_is_one_window_for_many_processes(redis_client) -> None:
    """Two plain processes share one sliding window: 5 requests per 3 s between them."""
    redis_client.delete("nexus:ai:rate:shared-test")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVER], cwd=ROOT, text=True, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    admitted = sorted(
        json.loads(line) for p in procs for line in p.communicate(timeout=30)[0].split()
    )
    assert len(admitted) == 8
    # any six admissions span at least a window: the sixth waited for the first to leave it
    assert all(later - first >= 2.9 for first, later in zip(admitted, admitted[5:]))
    assert admitted[4] - admitted[0] < 2  # the first five did not wait


def test_stored_usage_adds_up_per_day_and_model(redis_client) -> None:
    from app.ai.types import Usage

    day = "2031-01-02"
    when = time.mktime(time.strptime(day, "%Y-%m-%d")) + 43200
    redis_client.delete(f"nexus:ai:usage:{day}")
    usage = [
        Usage("anthropic", "claude-sonnet-5-5", 1, 1000, 200, 100, 0.004),
        Usage("anthropic", "claude-sonnet-5-5", 2, 500, 100, 0, 0.002),
        Usage("openai-compatible", "llama3.1", 1, 50, 10, 0, None),
    ]
    for call in usage:
        ai_store.record_usage(call, "ada", when)
    [totals] = ai_store.usage_by_day(1, until=date(2031, 1, 2))
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"]) == (4, 1550, 310)
    assert totals["cost_usd"] == pytest.approx(0.006)
    assert totals["unpriced_requests"] == 1
    assert [m["model"] for m in totals["models"]] == ["claude-sonnet-5-5", "llama3.1"]


# the page ---------------------------------------------------------------------------------


@pytest.fixture
def page_settings(fake: FakeAIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The page's own process sees the same providers as the ai worker."""
    from app.settings import get_settings

    for name, value in ai_env(fake).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def run_page(at: AppTest | None = None) -> AppTest:
    at = at or page_test(str(ROOT / "pages" / "ai.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def rerun_until(at: AppTest, done, timeout: float = 30.0) -> AppTest:
    """Rerun the page the way its live fragments would, until `done(at)` holds."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, "the page never showed the result"
        time.sleep(0.3)
        run_page(at)
    return at


def test_page_chat_switches_model_and_resumes_a_conversation(ai_worker, fake, page_settings):
    at = run_page()
    assert "claude-sonnet-5-5" in " ".join(c.value for c in at.caption)

    at.chat_input(key="chat-input").set_value("My name is Ada.").run()
    rerun_until(at, lambda a: len(a.chat_message) >= 2 and "chat-job" not in a.session_state)
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert fake.requests("anthropic")[-1].body["model"] == "claude-sonnet-5-5"

    at.selectbox(key="chat-provider").select("openai-compatible").run()
    at.chat_input(key="chat-input").set_value("What is my name?").run()
    rerun_until(at, lambda a: len(a.chat_message) >= 4 and "chat-job" not in a.session_state)
    last = fake.requests("openai")[-1]
    assert last.body["model"] == "llama3.1"
    assert [m["content"] for m in last.messages][-1] == "What is my name?"
    assert len(last.messages) == 4  # system, then the whole history as real turns
    captions = " ".join(c.value for c in at.caption)
    assert "llama3.1 ·" in captions and "cost unknown for this model" in captions

    fake.fail_next("openai", 401)
    at.chat_input(key="chat-input").set_value("Still there?").run()
    rerun_until(at, lambda a: len(a.error) > 0)
    assert "rejected the API key (401)" in at.error[0].value
    assert not at.chat_input(key="chat-input").disabled  # the user can try again
    unsent = next(t for t in at.text_area if t.label == "Your message, not sent yet")
    assert unsent.value == "Still there?"  # a failed turn keeps what the person typed

    next(b for b in at.button if b.label == "Send again").click().run()
    rerun_until(at, lambda a: len(a.chat_message) >= 6 and "chat-job" not in a.session_state)
    assert [m["content"] for m in fake.requests("openai")[-1].messages][-1] == "Still there?"
    assert not at.error

    conversation = at.session_state["chat-id"]
    at.button(key="chat-new").click().run()
    at.selectbox(key="chat-provider").select("anthropic").run()
    at.button(key=f"conv-{conversation}").click().run()
    # Resumed with the model it was held with, not the picker's default.
    assert at.selectbox(key="chat-provider").value == "openai-compatible"


def test_page_analyses_pasted_text_offline_and_shows_usage(ai_worker, fake, page_settings):
    at = run_page()
    at.selectbox(key="analyse-provider").select("offline").run()
    at.text_area(key="analyse-text").input(LONG_TEXT).run()
    at.selectbox(key="analyse-kind").select("key_points").run()
    at.button(key="analyse-go").click().run()
    rerun_until(at, lambda a: any("Key phrases" in m.value for m in a.markdown))
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    shown += [i.value for i in at.info]
    assert sum(text.count("no AI model used") for text in shown) == 1  # said once, not thrice
    assert fake.requests() == []

    usage_tab = run_page(at).tabs[5]
    assert any("Cost today" in m.label for m in usage_tab.metric)


def test_page_generates_and_translates_with_tokens_and_cost(ai_worker, fake, page_settings):
    at = run_page()
    at.text_area(key="gen-brief").input("Invite the team to the Q3 review").run()
    at.button(key="gen-go").click().run()
    rerun_until(at, lambda a: any("Answer #1 to: Write an email" in m.value for m in a.markdown))
    assert any("claude-sonnet-5-5 ·" in c.value and "$" in c.value for c in at.caption)

    at.text_area(key="translate-text").input("First paragraph.\n\nSecond paragraph.").run()
    at.selectbox(key="tr-to").select("German").run()
    at.button(key="tr-go").click().run()
    rerun_until(at, lambda a: any("[fr] Second paragraph." in m.value for m in a.markdown))
    [request] = [r for r in fake.requests() if "Translate this" in r.last_user_text]
    assert "into German" in request.body["system"]


@contextmanager
def slow_answers(server: FakeAIServer, seconds: float) -> Iterator[None]:
    server.delay = seconds
    try:
        yield
    finally:
        server.delay = 0.0


def cancel_after_requests(job_id: str, fake: FakeAIServer, count: int) -> dict:
    """Cancel `job_id` once `count` answers went out; its record once the worker confirmed."""
    deadline = time.monotonic() + 30
    while len(fake.requests()) < count:
        assert time.monotonic() < deadline, jobs.get(job_id, user=ADMIN)
        time.sleep(0.05)
    assert jobs.cancel(job_id, user=TESTER)
    deadline = time.monotonic() + 10
    while not (record := jobs.get(job_id, user=ADMIN)).get("stopped_at"):
        assert time.monotonic() < deadline, f"the worker never confirmed the cancel: {record}"
        time.sleep(0.05)
    return record


def test_a_cancelled_batch_makes_no_call_after_it_stops(ai_worker, fake) -> None:
    prompts = [f"Question {n}" for n in range(8)]
    with slow_answers(fake, 0.5):
        job_id = jobs.submit(
            "batch_ai_requests", {"prompts": prompts, "concurrency": 2}, user=TESTER
        )
        record = cancel_after_requests(job_id, fake, 2)
        answered = len(fake.requests())
        time.sleep(2)  # four more answers' time: none may come
    assert len(fake.requests()) == answered < 8
    assert record["state"] == "REVOKED"
    assert record["error"] == f"{answered} of 8 prompts done before the cancel."
    assert record["progress"]["current"] == answered


def test_a_cancelled_analysis_stops_before_its_next_part(ai_worker, fake) -> None:
    with slow_answers(fake, 0.5):
        job_id = jobs.submit(
            "analyze_document", {"analysis": "key_points"},
            files=[("minutes.txt", LONG_TEXT.encode())], user=TESTER,
        )
        record = cancel_after_requests(job_id, fake, 1)
        answered = len(fake.requests())
        time.sleep(1.5)
    assert len(fake.requests()) == answered
    total = record["progress"]["total"]
    assert answered < total
    assert record["error"] == f"{answered} of {total} steps done before the cancel."


def test_the_usage_tab_says_what_its_totals_leave_out(fake, page_settings):
    from app.ai.types import Usage

    quiet = User(f"quiet-{time.time_ns()}@example.org")
    at = page_test(str(ROOT / "pages" / "ai.py"), user=quiet).run()
    usage_tab = at.tabs[5]
    assert any("No AI requests in the last 14 days." in c.value for c in usage_tab.caption)
    assert not usage_tab.get("vega_lite_chart")  # no empty chart

    ai_store.record_usage(Usage("openai-compatible", "llama3.1", 1, 50, 10, 0, None), quiet.id)
    at = page_test(str(ROOT / "pages" / "ai.py"), user=quiet).run()
    usage_tab = at.tabs[5]
    assert any("leaves out 1 request to models with no price" in c.value
               for c in usage_tab.caption)
    assert usage_tab.get("vega_lite_chart")
    by_model = next(f.value for f in usage_tab.dataframe if "Model" in f.value.columns
                    and "Provider" in f.value.columns)
    assert list(by_model["Cost (USD)"]) == ["no price"]
    assert "None" not in by_model.to_string()
