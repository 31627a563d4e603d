"""A real headless Chromium drives the running app: a sample job reaches SUCCESS on the monitor.

Needs Debian's chromium at /usr/bin/chromium (`make test` installs it with
scripts/ensure_packages.sh); Playwright drives it, and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from app import jobs
from app.runtime.processes import streamlit_command
from tests.support.browser import LOAD_TIMEOUT_MS
from tests.support.processes import ROOT, Proc, start_worker
from tests.support.users import ADMIN

pytestmark = pytest.mark.e2e

SCREENSHOT = ROOT / "docs" / "screenshots" / "task-monitor.png"
JOB_ID_PATTERN = re.compile(r"^[0-9a-f-]{8,}$")
JOB_TIMEOUT_S = 40.0


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_port(command: list[str], port: int) -> list[str]:
    """The streamlit command with the value after `--server.port` replaced by `port`."""
    index = command.index("--server.port") + 1
    return [*command[:index], str(port), *command[index + 1:]]


def wait_until_healthy(proc: Proc, url: str, timeout: float = 60.0) -> None:
    """Return once Streamlit's health endpoint says ok; fail with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            pytest.fail(f"Streamlit exited at start:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.3)
    pytest.fail(f"Streamlit did not become healthy in {timeout:.0f} s:\n{proc.log()[-3000:]}")


def start_streamlit(port: int, log_path: Path) -> Proc:
    """Start the app as `make run` starts it, on `port`, without waiting for it."""
    command = with_port(streamlit_command(), port)
    # One person on loopback: this test is about the monitor, test_signin.py about signing in.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTH_MODE": "none"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return Proc("streamlit", process, log_path)


@pytest.fixture(scope="module")
def app_url(redis_url: str, session_dir: Path) -> Iterator[str]:
    """Streamlit on a free port plus one small worker on every queue; yields the app's URL.

    Both start at once to save time; a worker on every queue keeps the monitor free of
    'no worker' alarms in the screenshot.
    """
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    streamlit = start_streamlit(port, logs / f"streamlit-{port}.log")
    worker: Proc | None = None
    try:
        worker = start_worker(logs, concurrency=1)
        wait_until_healthy(streamlit, url)
        yield url
    finally:
        streamlit.stop(timeout=10)
        if worker is not None:
            worker.stop()


def open_monitor(page: Page, url: str) -> None:
    """Open the monitor by its own address on a fresh server, a bookmark's first visit."""
    page.goto(f"{url}/task_monitor", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Task Monitor").wait_for()
    page.get_by_role("tab", name="Test tasks").wait_for()
    # app.py's navigation is in charge: its sidebar lists the pages by title, Home first.
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Task Monitor")).to_be_visible()


def submit_sample_job(page: Page) -> str:
    """Click 'Sample job on maintenance' in the Test tasks tab; returns the job id shown."""
    page.get_by_role("tab", name="Test tasks").click()
    page.get_by_role("button", name="Sample job on maintenance").click()
    job_id_box = page.get_by_label("Job id")
    deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        job_id = job_id_box.input_value().strip()
        if JOB_ID_PATTERN.match(job_id):
            return job_id
        time.sleep(0.2)
    pytest.fail(f"the job detail never showed a job id (box holds {job_id_box.input_value()!r})")


def job_progress(page: Page) -> Locator:
    """The progress bar of the job detail view (the only st.progress on the page)."""
    return page.get_by_test_id("stProgress")


def wait_for_success(page: Page, job_id: str) -> None:
    """Watch the live job detail until it says '✅ SUCCESS'; nobody clicks anything meanwhile."""
    progress = job_progress(page).first
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        if "✅ SUCCESS" in progress.inner_text():
            return
        time.sleep(0.25)
    record = jobs.get(job_id, user=ADMIN) or {}
    pytest.fail(
        f"job {job_id} did not show ✅ SUCCESS on the monitor in {JOB_TIMEOUT_S:.0f} s; "
        f"the page shows {progress.inner_text()!r}, the registry says "
        f"{record.get('state')!r} ({record.get('error')!r})"
    )


def test_sample_job_reaches_success_on_the_monitor(
    app_url: str, page: Page, tmp_path: Path
) -> None:
    """A person submits a sample job from the monitor and sees it finish; screenshot saved."""
    open_monitor(page, app_url)
    job_id = submit_sample_job(page)
    wait_for_success(page, job_id)
    assert jobs.get(job_id, user=ADMIN)["state"] == "SUCCESS"
    shot = screenshot_path(tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "the screenshot is suspiciously small"


def screenshot_path(tmp_path: Path) -> Path:
    """The README's screenshot when NEXUS_UPDATE_SCREENSHOT=1, else a throwaway file."""
    if os.environ.get("NEXUS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        return SCREENSHOT
    return tmp_path / "task-monitor.png"
