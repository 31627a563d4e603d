"""The API tokens page under Streamlit's AppTest: create (shown once), list, revoke; admins
see everyone's; and a token made there works against a live API."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from app import tokens
from app.auth import User
from tests.support.api import start_api
from tests.support.pages import page_test
from tests.support.users import ADMIN

pytestmark = pytest.mark.integration
PAGE = Path(__file__).resolve().parents[2] / "pages" / "api_tokens.py"


def person() -> User:
    return User(f"page-{uuid.uuid4().hex[:8]}@example.com", "Page")


def create(at, name: str, expiry: str = "Never"):
    at.text_input(key="token_name").input(name)
    at.selectbox(key="token_expiry").select(expiry)
    return at.button(key="token_create_button").click().run()


def test_create_shows_the_token_once_and_lists_it(session_dir) -> None:
    me = person()
    at = page_test(PAGE, user=me).run()
    assert not at.exception
    assert "No tokens yet." in [i.value for i in at.info]
    at = create(at, "nightly export", "30 days")
    secret = at.code[0].value
    assert secret.startswith("nexus_") and len(secret) > 40
    assert "Copy it now" in at.success[0].value
    listed = at.dataframe[0].value
    assert list(listed["Name"]) == ["nightly export"] and list(listed["Last used"]) == ["never"]
    # The next run of the page does not show it again.
    at.run()
    assert not at.code
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    server = start_api(logs)
    try:
        answer = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization":
                                                                 f"Bearer {secret}"})
        assert answer.status_code == 200
    finally:
        server.proc.stop()


def test_revoke_and_an_empty_name_is_refused() -> None:
    me = person()
    at = create(page_test(PAGE, user=me).run(), "   ")
    assert at.error[0].value == "Give the token a name, so you know later what uses it."
    at = create(at, "laptop")
    secret = at.code[0].value
    at.button(key="tokens_revoke").click().run()
    assert "Revoked “laptop”" in at.success[0].value
    assert tokens.list_tokens(user=me) == []
    with pytest.raises(tokens.TokenRefused):
        tokens.authenticate(secret)


def test_admins_see_and_revoke_everyones_tokens() -> None:
    someone = person()
    _, made = tokens.create(someone, "someone's script")
    at = page_test(PAGE, user=ADMIN).run()
    at.toggle(key="tokens_everyone").set_value(True).run()
    table = at.dataframe[0].value
    assert someone.id in list(table["Owner"])
    at.selectbox(key="tokens_revoke_pick").select(made.id).run()
    at.button(key="tokens_revoke").click().run()
    assert made.id not in [t.id for t in tokens.list_tokens(user=ADMIN, everyone=True)]
    # A person who is not an admin has no such switch.
    assert not page_test(PAGE, user=person()).run().toggle
