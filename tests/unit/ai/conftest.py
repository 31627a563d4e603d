"""Fixtures for the AI unit tests: the wire-format fake provider and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.settings import Settings
from tests.support.fake_ai import GOOD_KEY, FakeAIServer


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeAIServer]:
    with FakeAIServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeAIServer) -> FakeAIServer:
    fake_server.clear()
    fake_server.omit_usage = False
    return fake_server


@pytest.fixture
def anthropic_settings(fake: FakeAIServer) -> Settings:
    return Settings(
        _env_file=None, anthropic_api_key=GOOD_KEY, anthropic_base_url=fake.url, ai_timeout=10
    )


@pytest.fixture
def local_settings(fake: FakeAIServer) -> Settings:
    """An OpenAI-compatible local server, which needs no key."""
    return Settings(_env_file=None, openai_base_url=fake.openai_url, openai_model="llama3.1")


@pytest.fixture
def no_provider() -> Settings:
    return Settings(_env_file=None)
