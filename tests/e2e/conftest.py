"""What every browser test shares: Debian's headless Chromium under Playwright.

Loaded before the session's settings are in place, so it must not import the app.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, LOAD_TIMEOUT_MS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: `make test` installs it as root; or: apt-get install -y chromium"
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
