"""A tour of every page in a real browser, on a live stack with real jobs behind it.

Each page must draw without an exception box, a "None" where a value belongs, a raw
`<crontab …>`, or a number that disagrees with its noun ("1 jobs"); and the browser must fetch
nothing from outside the machine. Each page's screenshot lands in docs/screenshots/ when
NEXUS_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from app import jobs
from app.auth import local_user
from app.runtime.processes import streamlit_command
from tests.e2e.test_browser import free_port, wait_until_healthy, with_port
from tests.support.fake_ai import GOOD_KEY, FakeAIServer
from tests.support.mail_server import MailServer, worker_env
from tests.support.processes import ROOT, Proc, start_worker
from tests.unit.office.samples import excel_workbook, word_document

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGES = {  # url path -> its screenshot's name
    "": "home",
    "files": "files",
    "ai": "ai",
    "email": "email",
    "reports": "reports",
    "task_monitor": "task-monitor",
    "my_files": "my-files",
    "admin": "admin",
    "audit": "audit-log",
}
NOUNS = ("job", "file", "row", "recipient", "value", "message", "output", "worker", "page",
         "sheet", "slide", "image", "entry", "item", "error", "token", "part", "day")
ONE_WITH_PLURAL = re.compile(rf"(?<![\d.,])\b1 ({'|'.join(NOUNS)})s\b")
MANY_WITH_SINGULAR = re.compile(rf"(?<![\d.,])\b(0|[2-9]|\d{{2,}}) ({'|'.join(NOUNS)})\b(?![-'’])")
NONE_CELL = re.compile(r"(?<![\w-])None(?![\w-]| of\b)")


@pytest.fixture(scope="module")
def stack(session_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Streamlit, a worker on every queue, a real SMTP server and an AI server; real jobs done."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    mail = MailServer().start()
    with FakeAIServer() as ai:
        env = worker_env(
            mail,
            ANTHROPIC_API_KEY=GOOD_KEY, ANTHROPIC_BASE_URL=ai.url,
            OPENAI_API_KEY=GOOD_KEY, OPENAI_BASE_URL=ai.openai_url,
        )
        port = free_port()
        streamlit = _start_streamlit(port, logs / f"streamlit-tour-{port}.log", env)
        worker: Proc | None = None
        try:
            worker = start_worker(logs, concurrency=2, env=env)
            _real_work(tmp_path_factory.mktemp("tour"))
            wait_until_healthy(streamlit, f"http://127.0.0.1:{port}")
            yield f"http://127.0.0.1:{port}"
        finally:
            streamlit.stop(timeout=10)
            if worker is not None:
                worker.stop()
            mail.stop()


def _start_streamlit(port: int, log_path: Path, env: dict[str, str]) -> Proc:
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "AUTH_MODE": "none"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(with_port(streamlit_command(), port), cwd=ROOT, env=full_env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Proc("streamlit", process, log_path)


def _real_work(folder: Path) -> None:
    """What a first morning leaves behind: a document, a report, a mail, a chat, a failure."""
    me = local_user()
    docx = word_document(folder / "minutes.docx")
    xlsx = excel_workbook(folder / "sales.xlsx")
    submitted = [
        jobs.submit("process_word_document", {"operations": ["extract_text"]},
                    files=[(docx.name, docx.read_bytes())], user=me),
        jobs.submit("generate_analytics_report", {"title": "Sales by region"},
                    files=[(xlsx.name, xlsx.read_bytes())], user=me),
        jobs.submit("send_email", {"to": ["ann@example.org"], "subject": "Minutes",
                                   "text": "Attached are the minutes."}, user=me),
        jobs.submit("claude_completion", {"prompt": "Say hello to the office."}, user=me),
        jobs.submit("sample_job", {"steps": 1, "step_seconds": 0, "fail": True}, user=me),
    ]
    for job_id in submitted:
        record = jobs.wait(job_id, timeout=60, user=me)
        assert record["state"] in ("SUCCESS", "FAILURE"), record


def _settle(page: Page) -> None:
    """Wait until the script has finished running and nothing new is drawn for a moment."""
    page.locator("h1").first.wait_for()
    deadline = time.monotonic() + 30
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if page.get_by_test_id("stStatusWidget").count():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        time.sleep(0.2)


def _screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = SCREENSHOTS if os.environ.get("NEXUS_UPDATE_SCREENSHOT") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"the screenshot of {name} is suspiciously small"


def untrue_text(text: str) -> list[str]:
    """What a person would flag on a page: None cells, raw crontabs, numbers at odds with nouns."""
    found = [f"raw schedule: {m.group(0)}" for m in re.finditer(r"<crontab[^>]*>", text)]
    found += [f"None shown: …{text[max(0, m.start() - 30):m.end() + 30]}…"
              for m in NONE_CELL.finditer(text)]
    found += [f"plural after one: {m.group(0)}" for m in ONE_WITH_PLURAL.finditer(text)]
    found += [f"singular after many: {m.group(0)}" for m in MANY_WITH_SINGULAR.finditer(text)]
    return found


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_tells_the_truth(stack: str, page: Page, path: str, tmp_path: Path) -> None:
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", "localhost") else None)
    page.goto(f"{stack}/{path}", wait_until="domcontentloaded")
    _settle(page)
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id(
        "stException").first.inner_text()
    text = page.locator("section.stMain, [data-testid='stMain']").first.inner_text()
    assert untrue_text(text) == []
    _screenshot(page, PAGES[path], tmp_path)
    assert [u for u in outside if not u.startswith("data:")] == []


def test_the_checks_catch_what_they_look_for() -> None:
    assert untrue_text("1 jobs waiting · 3 file · schedule <crontab: 7 * * * *> · Error None")
    assert len(untrue_text("1 jobs, 3 file, <crontab: 7 * * * *>, None")) == 4
    assert untrue_text("1 job, 3 files, 12 rows, None of these, 2.5 days, a 3-file batch") == []
