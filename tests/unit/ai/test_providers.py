"""The real Anthropic and OpenAI SDKs against the local wire-format server."""

from __future__ import annotations

import pytest

from app.ai.providers import NO_PROVIDER, configured, get_provider
from app.ai.types import Message
from app.errors import PermanentError, TransientError
from app.settings import Settings
from tests.support.fake_ai import BAD_KEY, GOOD_KEY, FakeAIServer

HELLO = [Message("user", "Hello there")]


def provider_for(name: str, settings: Settings):
    return get_provider(name, None, settings)


@pytest.fixture(params=["anthropic", "openai"])
def wire(request, fake: FakeAIServer, anthropic_settings: Settings, local_settings: Settings):
    """Each test runs against both wire formats: (provider, server route name)."""
    if request.param == "anthropic":
        return provider_for("anthropic", anthropic_settings), "anthropic"
    return provider_for("openai", local_settings), "openai"


def test_success_returns_text_usage_and_cost(wire, fake: FakeAIServer) -> None:
    provider, route = wire
    reply = provider.complete(HELLO, system="Be brief.", max_output=200)
    assert reply.text.startswith("Answer #1 to: Hello there")
    assert reply.usage.requests == 1
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert not reply.cut
    [seen] = fake.requests(route)
    assert seen.key_ok


def test_anthropic_call_is_priced_and_sends_the_system_prompt_apart(
    fake: FakeAIServer, anthropic_settings: Settings
) -> None:
    reply = provider_for("anthropic", anthropic_settings).complete(
        HELLO, system="Be brief.", max_output=200
    )
    assert reply.usage.model == "claude-sonnet-5-5"
    assert reply.usage.cost_usd and reply.usage.cost_usd > 0
    [seen] = fake.requests("anthropic")
    assert seen.body["system"] == "Be brief."
    assert seen.body["max_tokens"] == 200
    assert seen.messages == [{"role": "user", "content": "Hello there"}]


def test_local_server_gets_max_tokens_and_its_model_is_unpriced(
    fake: FakeAIServer, local_settings: Settings
) -> None:
    reply = provider_for("openai", local_settings).complete(HELLO, system=None, max_output=99)
    assert reply.usage.provider == "openai-compatible"
    assert reply.usage.cost_usd is None  # llama3.1 is not in the price table
    [seen] = fake.requests("openai")
    assert seen.body["max_tokens"] == 99
    assert seen.body["model"] == "llama3.1"


def test_429_is_transient_with_the_servers_retry_after_and_the_sdk_does_not_retry(
    wire, fake: FakeAIServer
) -> None:
    provider, route = wire
    fake.fail_next(route, 429, retry_after=7)
    with pytest.raises(TransientError) as caught:
        provider.complete(HELLO, system=None, max_output=50)
    assert caught.value.retry_after == 7
    assert "rate limiting" in str(caught.value)
    assert len(fake.requests(route)) == 1  # max_retries=0: our retries only
    assert provider.complete(HELLO, system=None, max_output=50).text  # then it works


def test_529_overloaded_is_transient(wire, fake: FakeAIServer) -> None:
    provider, route = wire
    fake.fail_next(route, 529)
    with pytest.raises(TransientError, match="overloaded"):
        provider.complete(HELLO, system=None, max_output=50)


def test_500_is_transient(wire, fake: FakeAIServer) -> None:
    provider, route = wire
    fake.fail_next(route, 500)
    with pytest.raises(TransientError, match="server error"):
        provider.complete(HELLO, system=None, max_output=50)


def test_401_is_permanent_and_never_shows_the_key(fake: FakeAIServer) -> None:
    for settings, env in [
        (
            Settings(_env_file=None, anthropic_api_key=BAD_KEY, anthropic_base_url=fake.url),
            "ANTHROPIC_API_KEY",
        ),
        (
            Settings(_env_file=None, openai_api_key=BAD_KEY, openai_base_url=fake.openai_url),
            "OPENAI_API_KEY",
        ),
    ]:
        with pytest.raises(PermanentError) as caught:
            get_provider(None, None, settings).complete(HELLO, system=None, max_output=50)
        message = str(caught.value)
        assert "(401)" in message and env in message
        assert BAD_KEY not in message and BAD_KEY[:10] not in message


def test_spend_limits_are_permanent(fake: FakeAIServer, anthropic_settings: Settings) -> None:
    provider = provider_for("anthropic", anthropic_settings)
    fake.fail_next("anthropic", 400, message="Your credit balance is too low to access the API.")
    with pytest.raises(PermanentError, match="spending limit"):
        provider.complete(HELLO, system=None, max_output=50)
    local = provider_for("openai", Settings(_env_file=None, openai_base_url=fake.openai_url))
    fake.fail_next(
        "openai", 429, message="You exceeded your current quota.", code="insufficient_quota"
    )
    with pytest.raises(PermanentError, match="spending limit"):
        local.complete(HELLO, system=None, max_output=50)


def test_400_quotes_the_peer_without_keys(wire, fake: FakeAIServer) -> None:
    provider, route = wire
    fake.fail_next(route, 400, message=f"max_tokens is too large; key {GOOD_KEY} was used")
    with pytest.raises(PermanentError) as caught:
        provider.complete(HELLO, system=None, max_output=50)
    assert "max_tokens is too large" in str(caught.value)
    assert GOOD_KEY not in str(caught.value)


def test_unreachable_server_is_transient() -> None:
    settings = Settings(
        _env_file=None,
        anthropic_api_key=GOOD_KEY,
        anthropic_base_url="http://127.0.0.1:9",
        ai_timeout=3,
    )
    with pytest.raises(TransientError, match="Could not connect"):
        get_provider(None, None, settings).complete(HELLO, system=None, max_output=50)


def test_output_limit_is_reported(wire, fake: FakeAIServer) -> None:
    provider, _ = wire
    fake.cut_on_word.add("LONG")
    assert provider.complete([Message("user", "LONG answer")], system=None, max_output=5).cut


def test_missing_usage_is_estimated_and_labelled(fake: FakeAIServer, local_settings) -> None:
    fake.omit_usage = True
    reply = provider_for("openai", local_settings).complete(HELLO, system=None, max_output=50)
    assert reply.usage.estimated_tokens
    assert reply.usage.input_tokens > 0


def test_no_provider_message_is_exact(no_provider: Settings) -> None:
    with pytest.raises(PermanentError) as caught:
        get_provider(None, None, no_provider)
    assert str(caught.value) == (
        "No AI provider is configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY "
        "(or OPENAI_BASE_URL for a local server)"
    )
    assert str(caught.value) == NO_PROVIDER


def test_configured_lists_models_and_hides_credentials(fake: FakeAIServer) -> None:
    settings = Settings(
        _env_file=None,
        anthropic_api_key=GOOD_KEY,
        openai_base_url="http://user:pw@127.0.0.1:11434/v1",
        openai_model="llama3.1",
    )
    found = {p.name: p for p in configured(settings)}
    assert found["anthropic"].models[0] == "claude-sonnet-5-5"
    assert found["openai-compatible"].models == ["llama3.1"]
    assert found["openai-compatible"].base_url == "http://127.0.0.1:11434/v1"
    assert GOOD_KEY not in repr(found)


def test_official_openai_gets_max_completion_tokens(fake: FakeAIServer) -> None:
    # A base URL makes the provider "openai-compatible"; the official API wants the newer field.
    settings = Settings(_env_file=None, openai_api_key=GOOD_KEY, openai_base_url=fake.openai_url)
    provider = get_provider("openai", None, settings)
    provider.info.name = "openai"
    provider.complete(HELLO, system=None, max_output=77)
    [seen] = fake.requests("openai")
    assert seen.body["max_completion_tokens"] == 77 and "max_tokens" not in seen.body
    assert seen.body["model"] == "gpt-5.4-mini"
