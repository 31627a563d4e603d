"""The embedded identity provider for tests, and signing a browser in through its login form.

    from tests.support.signin import SignIn, identity_provider, sign_in  # noqa: F401

`identity_provider` (module scope) starts Canaille on a free port with its data in the test
session folder, never in the repo's var/. `idp.add_user(email)` returns a password;
`idp.env` is the environment a Streamlit (or any Nexus process) needs to sign in through it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.processes import ROOT, Proc, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD_LINE = re.compile(r"password (\S+)")


@dataclass
class SignIn:
    """A running embedded provider and the environment that points Nexus at it."""

    url: str
    env: dict[str, str]
    proc: Proc
    admin_password: str = ""
    users: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m ARGS` with this provider's environment; fails the test on error."""
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout
        return done

    def add_user(self, email: str, name: str = "", admin: bool = False) -> str:
        """Create a person with `python -m app.users add`; returns their password."""
        args = ["app.users", "add", email, *(["--name", name] if name else [])]
        done = self.run(*args, *(["--admin"] if admin else []))
        password = PASSWORD_LINE.search(done.stdout).group(1)
        self.users[email] = password
        return password


def idp_env(var_dir: Path, idp_port: int, streamlit_port: int) -> dict[str, str]:
    """Environment of a Nexus process signing in through the embedded provider on idp_port."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("OIDC_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
                 "OIDC_REDIRECT_URI", "AUTH_MODE", "IDP_PUBLIC_URL"):
        env.pop(name, None)
    env.update({
        "VAR_DIR": str(var_dir),
        "IDP_PORT": str(idp_port),
        "STREAMLIT_PORT": str(streamlit_port),
        "AUTH_SECRETS_FILE": str(var_dir / "streamlit-secrets.toml"),
    })
    return env


def wait_for_discovery(proc: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"the provider exited at start:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the provider did not answer:\n{proc.log()[-3000:]}")


def start_idp(var_dir: Path, streamlit_port: int, log_dir: Path) -> SignIn:
    """Prepare (register Nexus, first admin) and serve the embedded provider on a free port."""
    port = free_port()
    env = idp_env(var_dir, port, streamlit_port)
    prepared = subprocess.run([sys.executable, "-m", "app.idp", "prepare"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert prepared.returncode == 0, prepared.stderr
    match = PASSWORD_LINE.search(prepared.stdout)
    log_path = log_dir / f"idp-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.idp", "serve"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    idp = SignIn(f"http://127.0.0.1:{port}", env, Proc("idp", process, log_path),
                 admin_password=match.group(1) if match else "")
    wait_for_discovery(idp.proc, idp.url)
    return idp


@pytest.fixture(scope="module")
def identity_provider(session_dir: Path) -> Iterator[SignIn]:
    """The embedded provider on a free port, for a Streamlit that will listen on `idp.env`'s
    STREAMLIT_PORT; its data lives in a fresh folder of the test session."""
    var_dir = session_dir / f"idp-var-{free_port()}"
    logs = session_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    idp = start_idp(var_dir, free_port(), logs)
    try:
        yield idp
    finally:
        idp.proc.stop(timeout=10)


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """From Nexus's sign-in screen through the provider's login form, back to Nexus signed in."""
    from playwright.sync_api import expect

    page.goto(base_url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/login"))
    page.locator("input[name=login]").fill(email)
    _submit(page)
    page.locator("input[name=password]").fill(password)
    _submit(page)
    page.wait_for_url(re.compile(re.escape(base_url)))
    expect(page.get_by_test_id("stSidebar").get_by_text(email.lower()).first).to_be_visible()


def _submit(page: Page) -> None:
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state("domcontentloaded")
