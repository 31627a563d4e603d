"""Flower never starts without basic auth: an empty FLOWER_PASSWORD means "generate one"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import processes
from app.settings import get_settings


@pytest.fixture
def settings_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[pytest.MonkeyPatch]:
    """Settings re-read after the test changes the environment, and re-read again after it."""
    monkeypatch.chdir(tmp_path)  # no developer's .env (read from the working directory)
    monkeypatch.setenv("FLOWER_USER", "admin")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _with_password(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("FLOWER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("FLOWER_PASSWORD", value)
    get_settings.cache_clear()


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_password_counts_as_not_chosen(settings_from_env, value) -> None:
    _with_password(settings_from_env, value)
    assert processes.configured_flower_password() is None
    with pytest.raises(ValueError, match="Flower needs a password"):
        processes.flower_auth()  # never an environment that turns auth off
    assert processes.flower_auth("generated") == {"FLOWER_BASIC_AUTH": "admin:generated"}


def test_a_configured_password_is_used(settings_from_env) -> None:
    _with_password(settings_from_env, "from-env")
    assert processes.configured_flower_password() == "from-env"
    assert processes.flower_auth() == {"FLOWER_BASIC_AUTH": "admin:from-env"}


def test_an_empty_argument_does_not_switch_auth_off(settings_from_env) -> None:
    _with_password(settings_from_env, "")
    with pytest.raises(ValueError):
        processes.flower_auth("")
