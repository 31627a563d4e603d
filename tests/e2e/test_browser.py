"""A real headless Chromium drives the running app: a sample job reaches SUCCESS on the monitor.

Needs Debian's chromium at /usr/bin/chromium (`tests/e2e/ensure_chromium.sh` installs it);
Playwright drives it, and never downloads a browser of its own.
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
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from app import jobs
from app.processes import streamlit_command
from tests.support.processes import ROOT, Proc, start_worker

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("NEXUS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "screenshots" / "task-monitor.png"
JOB_ID_PATTERN = re.compile(r"^[0-9a-f-]{8,}$")
LOAD_TIMEOUT_MS = 45_000
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
    command = [*with_port(streamlit_command(), port), "--server.fileWatcherType", "none"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run tests/e2e/ensure_chromium.sh (as root) to install it"
    )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page with a viewport tall enough to show the monitor down to the job detail."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def open_monitor(page: Page, url: str) -> None:
    """Open Home, then Task Monitor from the sidebar, as a person would; wait for its tabs.

    Home first: on a fresh server Streamlit serves a deep link into pages/ in its legacy
    multipage mode (without app.py) until app.py has called st.navigation once.
    """
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Nexus").wait_for()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Task Monitor").click()
    page.wait_for_url(re.compile(r"/task_monitor$"))
    page.get_by_role("heading", name="Task Monitor").wait_for()
    page.get_by_role("tab", name="Test tasks").wait_for()


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


def pause_switch(page: Page) -> Locator:
    """The monitor's 'Pause' toggle (stops the 2 s live refresh of its fragments)."""
    return page.get_by_test_id("stCheckbox").filter(has_text="Pause")


def rerun(page: Page) -> None:
    """Flip 'Pause' to force a full rerun (the detail view is not a fragment); wait till drawn.

    A widget change always reruns, unlike the 'R' hotkey, which the browser ignores while a
    fragment runs. 'Rendered at HH:MM:SS' is the page's last line and only full runs redraw it.
    """
    rendered = page.get_by_text("Rendered at")
    before = rendered.inner_text()
    time.sleep(1.1)  # the caption has one-second resolution
    pause_switch(page).get_by_text("Pause").click()
    expect(rendered).not_to_have_text(before, timeout=LOAD_TIMEOUT_MS)


def ensure_live(page: Page) -> None:
    """Leave the monitor refreshing live, as a person would find it."""
    if pause_switch(page).locator("input").is_checked():
        rerun(page)


def wait_for_success(page: Page, job_id: str) -> None:
    """Rerun the page until the job detail says '✅ SUCCESS'; fail with the job's record if not."""
    progress = job_progress(page).first
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        if "✅ SUCCESS" in progress.inner_text():
            return
        rerun(page)
    record = jobs.get(job_id) or {}
    pytest.fail(
        f"job {job_id} did not show ✅ SUCCESS on the monitor in {JOB_TIMEOUT_S:.0f} s; "
        f"the page shows {progress.inner_text()!r}, the registry says "
        f"{record.get('state')!r} ({record.get('error')!r})"
    )


def test_sample_job_reaches_success_on_the_monitor(app_url: str, page: Page) -> None:
    """A person submits a sample job from the monitor and sees it finish; screenshot saved."""
    open_monitor(page, app_url)
    job_id = submit_sample_job(page)
    wait_for_success(page, job_id)
    assert jobs.get(job_id)["state"] == "SUCCESS"
    ensure_live(page)
    expect(job_progress(page).first).to_contain_text("✅ SUCCESS")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000, "the screenshot is suspiciously small"
