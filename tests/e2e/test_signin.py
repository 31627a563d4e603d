"""Signing in through the embedded provider in a real headless Chromium, and signing out.

Signed out, every address (the root and a deep link alike) shows the sign-in screen and no
data; the provider's own login form signs a person in; signing out ends the session.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.runtime.processes import streamlit_command
from tests.e2e.test_browser import wait_until_healthy, with_port
from tests.support.processes import ROOT, Proc
from tests.support.signin import SignIn, identity_provider, sign_in  # noqa: F401

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def signin_app(identity_provider: SignIn, session_dir: Path) -> Iterator[str]:  # noqa: F811
    """Nexus's Streamlit signing in through `identity_provider`; yields its URL."""
    port = int(identity_provider.env["STREAMLIT_PORT"])
    url = f"http://127.0.0.1:{port}"
    log_path = session_dir / "logs" / f"streamlit-signin-{port}.log"
    command = with_port(streamlit_command(), port)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=identity_provider.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    streamlit = Proc("streamlit", process, log_path)
    try:
        wait_until_healthy(streamlit, url)
        yield url
    finally:
        streamlit.stop(timeout=10)


def expect_sign_in_screen(page: Page) -> None:
    """The sign-in screen and nothing else: no navigation, no dashboard, no monitor."""
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Sign in with your company account")).to_be_visible()
    for data in ("Queues and workers", "Today's jobs", "Task Monitor"):
        expect(page.get_by_text(data)).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


def test_signed_out_visitor_sees_only_the_sign_in_screen(
    signin_app: str, page: Page
) -> None:
    for path in ("/", "/task_monitor"):
        page.goto(f"{signin_app}{path}", wait_until="domcontentloaded")
        expect_sign_in_screen(page)


def test_sign_in_through_the_provider_then_sign_out(
    signin_app: str, page: Page, identity_provider: SignIn  # noqa: F811
) -> None:
    password = identity_provider.add_user("dana@example.org", name="Dana")
    sign_in(page, signin_app, "dana@example.org", password)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Dana", exact=True)).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()

    from app import audit
    from tests.support.users import ADMIN

    signed = audit.search(actor="dana@example.org", action="sign-in", user=ADMIN).entries
    assert len(signed) == 1 and signed[0].client  # once per session, with the browser's address

    sidebar.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload(wait_until="domcontentloaded")
    expect_sign_in_screen(page)


# two people and an admin ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_peoples_work(identity_provider: SignIn) -> Iterator[dict]:  # noqa: F811
    """Alice and Bob, each with a job, a recurring report and a scheduled email; an admin."""
    from app import jobs, schedules
    from app.auth import User
    from app.mail.store import ScheduledEmail, ScheduleStore

    people = {}
    for email, name in (("alice@example.org", "Alice"), ("bob@example.org", "Bob")):
        user = User(email, name)
        job_id = jobs.submit("sample_job", {"steps": 1, "step_seconds": 0}, user=user)
        report = schedules.create(
            name=f"{name}'s weekly figures", report="task_performance", params={},
            cron="0 7 * * 1", recipients=[], owner=email,
        )
        ScheduleStore().add(ScheduledEmail(
            id=f"e2e-{name.lower()}-{job_id[:8]}", owner=email, due_at=4102444800.0,
            timezone="UTC", subject=f"{name}'s secret plan", recipients="x@example.org",
            params={"to": "x@example.org", "subject": f"{name}'s secret plan", "text": "x"},
        ))
        people[name] = {"email": email, "job": job_id, "report": report["id"],
                        "password": identity_provider.add_user(email, name=name)}
    people["Admin"] = {"email": "boss@example.org",
                       "password": identity_provider.add_user("boss@example.org", admin=True)}
    yield people
    for name in ("Alice", "Bob"):
        schedules.delete(people[name]["report"])


DETAIL_HEADING = re.compile(r"sample_job · queue")


def signed_in_page(browser: Browser, url: str, who: dict) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, url, who["email"], who["password"])
    return page


def recurring_reports(page: Page, url: str) -> Page:
    page.goto(f"{url}/reports", wait_until="domcontentloaded")
    page.get_by_role("tab", name="Recurring reports").click()
    return page


def outbox(page: Page, url: str) -> Page:
    page.goto(f"{url}/email", wait_until="domcontentloaded")
    page.get_by_role("tab", name="Outbox").click()
    return page


def job_detail(page: Page, url: str, job_id: str) -> Page:
    page.goto(f"{url}/task_monitor", wait_until="domcontentloaded")
    box = page.get_by_label("Job id")
    box.fill(job_id)
    box.press("Enter")
    return page


def test_each_person_sees_only_their_own_work_and_the_admin_sees_both(
    signin_app: str, browser: Browser, two_peoples_work: dict
) -> None:
    people = two_peoples_work
    for me, other in (("Alice", "Bob"), ("Bob", "Alice")):
        page = signed_in_page(browser, signin_app, people[me])
        try:
            recurring_reports(page, signin_app)
            expect(page.get_by_text(f"{me}'s weekly figures").first).to_be_visible()
            expect(page.get_by_text(f"{other}'s weekly figures")).to_have_count(0)

            outbox(page, signin_app)
            expect(page.get_by_text(f"{me}'s secret plan").first).to_be_visible()
            expect(page.get_by_text(f"{other}'s secret plan")).to_have_count(0)

            job_detail(page, signin_app, people[other]["job"])
            expect(page.get_by_text(f"There is no job {people[other]['job']}.")).to_be_visible()
            job_detail(page, signin_app, people[me]["job"])
            expect(page.get_by_text(DETAIL_HEADING)).to_be_visible()
        finally:
            page.context.close()

    admin = signed_in_page(browser, signin_app, people["Admin"])
    try:
        recurring_reports(admin, signin_app)
        for name in ("Alice", "Bob"):
            expect(admin.get_by_text(f"{name}'s weekly figures").first).to_be_visible()
        job_detail(admin, signin_app, people["Bob"]["job"])
        expect(admin.get_by_text(DETAIL_HEADING)).to_be_visible()
    finally:
        admin.context.close()
