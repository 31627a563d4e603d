"""The reports queue through a real worker: reports, exports, performance and schedules."""

from __future__ import annotations

import email
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import openpyxl
import pytest
import redis
from aiosmtpd.controller import Controller
from streamlit.testing.v1 import AppTest

from app import jobs, schedules, storage
from app.registry import Registry
from tests.support.fake_ai import GOOD_KEY, FakeAIServer
from tests.support.object_store import BOTH_STORES
from tests.support.pages import page_test
from tests.support.processes import ROOT, start_beat, start_worker
from tests.support.users import ADMIN, TESTER
from tests.unit.reports.datasets import sales

pytestmark = [pytest.mark.integration, *BOTH_STORES]

REPORT_OUTPUTS = {"report.html", "report.xlsx", "report.pdf", "report.json"}


def _succeeded(job_id: str, timeout: float = 120.0) -> dict:
    record = jobs.wait(job_id, timeout=timeout, user=ADMIN)
    assert record["state"] == "SUCCESS", record.get("error") or record.get("traceback")
    return record


def test_analytics_report_from_an_upload(worker) -> None:
    upload = ("sales.csv", sales(400).to_csv(index=False).encode())
    job_id = jobs.submit(
        "generate_analytics_report", {"title": "Sales"}, files=[upload], user=TESTER
    )
    record = _succeeded(job_id)

    assert {o["name"] for o in jobs.outputs(job_id, user=ADMIN)} == REPORT_OUTPUTS
    html = jobs.output_bytes(job_id, "report.html", user=ADMIN).decode()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    result = record["result"]
    assert result["rows"] == 400 and result["group_by"] == "region"
    assert result["outputs"]["html"] == "report.html"
    assert len(json.dumps(result)) < 5_000  # the data itself never goes to the result backend
    assert record["progress"]["current"] == record["progress"]["total"]


def test_summary_report_reads_an_earlier_jobs_output(worker) -> None:
    records = [
        {"team": t, "hours": h, "day": f"2025-03-{d:02d}"}
        for d, (t, h) in enumerate([("Ops", 5), ("Dev", 8), ("Ops", 2), ("Dev", 9)], 1)
    ]
    export_id = jobs.submit(
        "export_data", {"records": records, "formats": ["csv", "json"]}, user=TESTER
    )
    _succeeded(export_id)
    csv_ref = next(o for o in jobs.outputs(export_id, user=ADMIN) if o["name"] == "export.csv")

    job_id = jobs.submit(
        "generate_summary_report", {"formats": ["html", "json"]}, files=[csv_ref], user=TESTER
    )
    result = _succeeded(job_id)["result"]
    assert result["summary"]["source"] == "the offline analyser (no AI model was used)"
    assert "The data has 4 rows and 3 columns" in result["summary"]["text"]
    report = json.loads(jobs.output_bytes(job_id, "summary-report.json", user=ADMIN))
    assert report["executive_summary"]["source"].startswith("the offline analyser")
    html = jobs.output_bytes(job_id, "summary-report.html", user=ADMIN).decode()
    assert "written by the offline analyser" in html


def test_export_job_round_trips_and_names_its_own_files(worker) -> None:
    records = [{"name": "Zoë", "a/b": 1.5, "../x": None}, {"name": "=cmd()", "a/b": -2}]
    job_id = jobs.submit(
        "export_data", {"records": records, "formats": ["json", "xml", "xlsx", "csv"]}, user=TESTER)
    _succeeded(job_id)
    assert {o["name"] for o in jobs.outputs(job_id, user=ADMIN)} == {
        "export.json",
        "export.xml",
        "export.xlsx",
        "export.csv",
    }
    assert json.loads(jobs.output_bytes(job_id, "export.json", user=ADMIN)) == records
    assert b"'=cmd()" in jobs.output_bytes(job_id, "export.csv", user=ADMIN)


def test_performance_report_matches_the_jobs_this_test_ran(worker) -> None:
    start = time.time()
    ids = [jobs.submit("ping", user=TESTER) for _ in range(3)]
    ids.append(jobs.submit("sample_job", {"steps": 1, "step_seconds": 0.2}, user=TESTER))
    ids.append(
        jobs.submit("sample_job", {"steps": 1, "step_seconds": 0.05, "fail": True}, user=TESTER)
    )
    ran = [jobs.wait(i, timeout=60, user=ADMIN) for i in ids]
    end = time.time()

    job_id = jobs.submit(
        "generate_task_performance_report",
        {"start": start, "end": end, "kinds": ["ping", "sample_job"]}, user=TESTER
    )
    record = _succeeded(job_id)
    numbers = record["result"]["numbers"]
    runs = [r["finished_at"] - r["started_at"] for r in ran]
    waits = [r["started_at"] - r["submitted_at"] for r in ran]
    assert numbers["jobs"] == 5
    assert numbers["by_kind"] == {"ping": 3, "sample_job": 2}
    assert numbers["by_state"] == {"SUCCESS": 4, "FAILURE": 1}
    assert numbers["success_rate"] == pytest.approx(0.8)
    assert numbers["run_p50"] == pytest.approx(np.percentile(runs, 50))
    assert numbers["run_p95"] == pytest.approx(np.percentile(runs, 95))
    assert numbers["wait_p95"] == pytest.approx(np.percentile(waits, 95))

    html = jobs.output_bytes(job_id, "task-performance.html", user=ADMIN).decode()
    assert "The sample job was asked to fail." in html
    xlsx = next(o for o in jobs.outputs(job_id, user=ADMIN) if o["name"] == "task-performance.xlsx")
    book = openpyxl.load_workbook(storage.resolve(xlsx))
    assert {row[0] for row in book["Jobs"].iter_rows(min_row=2, values_only=True)} == set(ids)
    assert book["Charts"]._charts


def test_schedules_can_be_listed_paused_resumed_and_deleted(redis_client) -> None:
    created = schedules.create(
        name="Monthly",
        report="task_performance",
        params={"days": 30},
        cron="0 6 1 * *",
        recipients="boss@example.com",
        owner="ada",
    )
    schedule_id = created["id"]
    assert created["enabled"] and created["next_run"] > time.time()
    assert any(s["id"] == schedule_id for s in schedules.list_schedules(owner="ada"))

    # A process that never saved an entry (a fresh page server) can read schedules too.
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app import schedules as r; "
            "print(sorted(s['id'] for s in r.list_schedules()))",
        ],
        cwd=ROOT,
        env=_base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert schedule_id in listed.stdout

    assert schedules.pause(schedule_id)
    assert schedules.get(schedule_id)["enabled"] is False
    assert schedules.resume(schedule_id)
    assert schedules.get(schedule_id)["enabled"] is True

    assert schedules.delete(schedule_id)
    assert schedules.get(schedule_id) is None
    assert not redis_client.keys(f"*redbeat*{schedule_id}*")


def test_bad_schedules_are_refused_in_plain_words(worker) -> None:
    job_id = jobs.submit(
        "schedule_recurring_report",
        {"report": "task_performance", "cron": "every monday", "recipients": ["boss@example.com"]},
        user=TESTER,
    )
    record = jobs.wait(job_id, timeout=60, user=ADMIN)
    assert record["state"] == "FAILURE"
    assert "five cron fields" in record["error"]


# recurring report end to end ----------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _other_db(url: str, db: int) -> str:
    """The same server, another database: the session worker never sees these queues."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def _submit_in(env: dict[str, str], kind: str, params: dict, upload: Path | None = None) -> str:
    """Submit a job from a process on the isolated database, uploading `upload` if given."""
    code = (
        "import json, sys; from pathlib import Path; from app import jobs; "
        "from tests.support.users import TESTER; "
        "files = [(Path(p).name, Path(p).read_bytes()) for p in sys.argv[2:]]; "
        f"print(jobs.submit({kind!r}, json.loads(sys.argv[1]), files=files, user=TESTER))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(params), *([str(upload)] if upload else [])],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def _base_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Stack:
    """A worker (reports, email) and beat on their own Redis database, with a test SMTP server
    and a fake AI provider, so the session worker never takes their messages."""

    env: dict[str, str]
    registry: Registry
    inbox: Inbox
    ai: FakeAIServer


@pytest.fixture(scope="module")
def stack(redis_url: str, session_dir: Path, storage_backend: str) -> Iterator[Stack]:
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    url = _other_db(redis_url, 9)
    client = redis.Redis.from_url(url, decode_responses=True)
    if client.dbsize():
        pytest.skip(f"{url} already holds data; these tests need an empty database")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    with FakeAIServer() as ai:
        env = {
            "REDIS_URL": url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
            "ANTHROPIC_API_KEY": GOOD_KEY,
            "ANTHROPIC_BASE_URL": ai.url,
            # The recurring-report test schedules every minute, under the 15-minute quota.
            "REPORT_MIN_INTERVAL_MINUTES": "1",
        }
        worker = start_worker(logs, queues=("reports", "email"), concurrency=1, env=env)
        beat = start_beat(logs, env=env)
        try:
            yield Stack(env, Registry(client, prefix="nexus"), inbox, ai)
        finally:
            beat.stop()
            worker.stop()
            smtp.stop()
            client.flushdb()


def test_summary_is_written_by_the_ai_provider_when_one_is_configured(
    stack: Stack, tmp_path: Path
) -> None:
    data = tmp_path / "teams.csv"
    data.write_text("team,hours\nOps,5\nDev,8\n")
    job_id = _submit_in(stack.env, "generate_summary_report", {"formats": ["html"]}, data)
    record = _wait(lambda: _finished(stack.registry, job_id), 120, "the summary report")
    assert record["state"] == "SUCCESS", record.get("error")
    summary = record["result"]["summary"]
    assert summary["source"] == "AI (anthropic)"
    assert summary["text"].startswith("Answer #1 to: <document>")
    sent = stack.ai.requests("anthropic")[-1].last_user_text
    assert "The data has 2 rows and 2 columns" in sent
    html = storage.read_bytes(f"jobs/{job_id}/out/summary-report.html").decode("utf-8")
    assert "written by AI (anthropic)" in html


def _finished(registry: Registry, job_id: str) -> dict | None:
    record = registry.get(job_id)
    return record if record and record["state"] in ("SUCCESS", "FAILURE") else None


def _minute_after(epoch: float) -> int:
    return (int(epoch) // 60 + 1) * 60


def test_recurring_reports_added_at_runtime_fire_next_minute_and_are_emailed(
    stack: Stack, tmp_path: Path
) -> None:
    data = tmp_path / "sales.csv"
    sales(200).to_csv(data, index=False)
    wanted = {
        "Minute performance": (
            {"report": "task_performance", "params": {"days": 1, "formats": ["pdf", "xlsx"]}},
            None,
            {"task-performance.pdf", "task-performance.xlsx"},
        ),
        "Minute sales": (
            {"report": "analytics", "params": {"formats": ["html", "pdf"]}},
            data,
            {"report.html", "report.pdf"},
        ),
    }
    stored = {}
    for name, (spec, upload, _) in wanted.items():
        params = {**spec, "cron": "* * * * *", "name": name, "recipients": ["boss@example.com"]}
        job_id = _submit_in(stack.env, "schedule_recurring_report", params, upload)
        stored[name] = _wait(lambda j=job_id: _finished(stack.registry, j), 60, "a schedule")
        assert stored[name]["state"] == "SUCCESS", stored[name].get("error")

    for name, (_, _, attachments) in wanted.items():
        message = _wait(
            lambda n=name: next(
                (m for m in stack.inbox.messages if m["Subject"].startswith(n)), None
            ),
            150,
            f"the email of {name}",
        )
        assert message["To"] == "boss@example.com"
        assert {part.get_filename() for part in message.iter_attachments()} == attachments

        schedule_id = stored[name]["result"]["schedule_id"]
        runs = [
            r
            for r in stack.registry.list(kind="run_scheduled_report", limit=200).jobs
            if r["params"].get("schedule_id") == schedule_id
        ]
        first = min(r["submitted_at"] for r in runs)
        # The entry is saved while the scheduling job runs: it first fires at the next minute.
        assert _minute_after(stored[name]["started_at"]) <= first
        assert first < _minute_after(stored[name]["finished_at"]) + 30


# the Reports page --------------------------------------------------------------------------


def _page() -> AppTest:
    at = page_test(str(ROOT / "pages" / "reports.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_page_builds_a_performance_report_and_previews_it(worker) -> None:
    at = _page()
    at.selectbox[0].set_value("generate_task_performance_report").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["report_job"]
    _succeeded(job_id)
    at.run()
    assert not at.exception, at.exception
    assert "Jobs" in [m.label for m in at.metric]
    assert any("task-performance.html" in b.label for b in at.get("download_button"))


def test_page_lists_schedules_and_pauses_one() -> None:
    created = schedules.create(
        name="Page schedule",
        report="task_performance",
        params={},
        cron="0 7 * * 1",
        recipients=[],
        owner=TESTER.id,
    )
    try:
        at = _page()
        table = next(f.value for f in at.dataframe if "Schedule (UTC)" in f.value.columns)
        row = table[table["Name"] == "Page schedule"].iloc[0]
        assert (row["Schedule (UTC)"], row["State"]) == ("At 07:00, only on Monday", "active")
        # The next Monday 07:00, in the viewer's clock, to the minute: never a time gone by.
        assert re.fullmatch(r"\d\d \w{3} \d{4}, \d\d:\d\d( \(in \d+ \w+\))?",
                            row["Next run"]), row["Next run"]
        next(b for b in at.button if b.key == f"pause-{created['id']}").click().run()
        assert schedules.get(created["id"])["enabled"] is False
        assert any(b.key == f"resume-{created['id']}" for b in at.button)
    finally:
        schedules.delete(created["id"])
