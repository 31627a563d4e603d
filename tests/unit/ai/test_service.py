"""The AI operations end to end through the real SDKs and the wire-format server."""

from __future__ import annotations

import re

import pytest

from app.ai.providers import NO_PROVIDER
from app.ai.service import build_service
from app.ai.types import Message, Usage
from app.errors import PermanentError
from app.settings import Settings
from tests.support.fake_ai import FakeAIServer

LONG_DOC = "\n\n".join(
    f"Section {n}. The plant in region {n} produced {n * 10} units. " + "Output was steady. " * 40
    for n in range(1, 9)
)


class CountingLimiter:
    def __init__(self) -> None:
        self.reserved: list[tuple[str, int]] = []
        self.settled: list[int] = []

    def reserve(self, provider: str, tokens: int) -> int:
        self.reserved.append((provider, tokens))
        return len(self.reserved)

    def settle(self, reservation: int, tokens: int) -> None:
        self.settled.append(tokens)


def small(settings: Settings, context: int = 1000) -> Settings:
    return settings.model_copy(update={"ai_context_tokens": context})


def test_long_document_is_read_in_parts_and_combined(
    fake: FakeAIServer, anthropic_settings: Settings
) -> None:
    calls: list[Usage] = []
    ai = build_service(settings=small(anthropic_settings), on_usage=calls.append)
    result = ai.analyze(LONG_DOC, "summary")

    sent = fake.requests("anthropic")
    parts = [r for r in sent if "of a longer document" in r.last_user_text]
    assert result.chunks == len(parts) > 1
    # every character of the document went to the model, in order, exactly once
    bodies = [
        re.search(r"<document>\n(.*)\n</document>", r.last_user_text, re.S).group(1) for r in parts
    ]
    assert "".join(bodies) == LONG_DOC
    assert result.text == f"Combined answer from {len(parts)} notes."
    assert any(f"in {len(parts)} parts" in note for note in result.notes)
    assert result.usage.requests == len(sent) == len(calls)
    assert result.usage.input_tokens == sum(c.input_tokens for c in calls)


def test_short_document_is_one_call(fake: FakeAIServer, anthropic_settings: Settings) -> None:
    result = build_service(settings=anthropic_settings).analyze("Sales rose 4%.", "sentiment")
    assert result.chunks == 1 and len(fake.requests()) == 1
    assert result.as_dict()["stats"]["words"] == 3


def test_custom_question_needs_a_question(anthropic_settings: Settings) -> None:
    with pytest.raises(PermanentError, match="Write the question"):
        build_service(settings=anthropic_settings).analyze("Text.", "question", "  ")


def test_chat_history_goes_as_real_messages_in_order(
    fake: FakeAIServer, anthropic_settings: Settings, local_settings: Settings
) -> None:
    history = [
        Message("user", "My name is Ada."),
        Message("assistant", "Hello Ada."),
        Message("user", "I work in finance."),
        Message("assistant", "Noted."),
        Message("user", "What is my name?"),
    ]
    for settings, route in [(anthropic_settings, "anthropic"), (local_settings, "openai")]:
        build_service(settings=settings).chat(history, system="Be kind.")
        [seen] = fake.requests(route)
        turns = [m for m in seen.messages if m["role"] != "system"]
        assert [(m["role"], m["content"]) for m in turns] == [(m.role, m.content) for m in history]
        system = seen.body.get("system") or seen.messages[0]["content"]
        assert system == "Be kind."  # the history is not pasted into the system prompt


def test_chat_too_long_for_the_budget_drops_the_earliest_turns_and_says_so(
    fake: FakeAIServer, anthropic_settings: Settings
) -> None:
    history = []
    for n in range(30):
        history += [
            Message("user", f"Question {n}: " + "detail " * 30),
            Message("assistant", f"Answer {n}."),
        ]
    history.append(Message("user", "And finally?"))
    result = build_service(settings=small(anthropic_settings)).chat(history)
    [seen] = fake.requests("anthropic")
    assert seen.messages[-1]["content"] == "And finally?"
    assert seen.messages[0]["role"] == "user"
    dropped = len(history) - len(seen.messages)
    assert dropped > 0 and result.cut
    assert any(f"the {dropped} earliest messages" in note for note in result.notes)


def test_translation_keeps_paragraphs_across_parts(
    fake: FakeAIServer, local_settings: Settings
) -> None:
    text = "\n\n".join(
        f"Paragraph {n}: " + "the quarterly report is ready. " * 20 for n in range(12)
    )
    result = build_service(settings=small(local_settings)).translate(text, "French")
    assert result.chunks > 1
    paragraphs = result.text.split("\n\n")
    assert len(paragraphs) == 12
    assert all(p.startswith("[fr] Paragraph") for p in paragraphs)
    assert "into French" in fake.requests()[0].messages[0]["content"]


def test_a_cut_answer_is_reported(fake: FakeAIServer, anthropic_settings: Settings) -> None:
    fake.cut_on_word.add("essay")
    result = build_service(settings=anthropic_settings).complete("Write an essay.")
    assert result.cut
    assert "output limit" in result.notes[0]


def test_generation_uses_tone_length_and_audience(
    fake: FakeAIServer, anthropic_settings: Settings
) -> None:
    result = build_service(settings=anthropic_settings).generate(
        "email", "Invite the team to the Q3 review", "friendly", "short", "new hires"
    )
    [seen] = fake.requests()
    prompt = seen.last_user_text
    assert "Tone: friendly." in prompt and "Audience: new hires." in prompt
    assert "80 to 150 words" in prompt
    assert seen.body["max_tokens"] == 600
    assert result.usage.cost_usd is not None


def test_prompt_beyond_the_budget_is_refused_not_cut(anthropic_settings: Settings) -> None:
    with pytest.raises(PermanentError, match="tokens, more than"):
        build_service(settings=small(anthropic_settings)).complete("word " * 3000)


def test_every_call_goes_through_the_limiter(anthropic_settings: Settings) -> None:
    limiter = CountingLimiter()
    build_service(settings=small(anthropic_settings), limiter=limiter).analyze(LONG_DOC)
    assert len(limiter.reserved) == len(limiter.settled) > 2
    assert all(provider == "anthropic" for provider, _ in limiter.reserved)


def test_without_a_provider_summary_and_key_points_run_offline(no_provider: Settings) -> None:
    ai = build_service(settings=no_provider)
    summary = ai.analyze(LONG_DOC, "summary").as_dict()
    assert summary["provider"] == "offline"
    assert "no AI model used" in summary["text"]
    assert summary["usage"]["cost_usd"] == 0
    assert ai.analyze(LONG_DOC, "key_points").as_dict()["items"]


@pytest.mark.parametrize(
    "operation",
    [
        lambda ai: ai.generate("email", "Hello"),
        lambda ai: ai.translate("Hello", "German"),
        lambda ai: ai.chat([Message("user", "Hi")]),
        lambda ai: ai.complete("Hi"),
        lambda ai: ai.analyze("Some text.", "sentiment"),
    ],
)
def test_without_a_provider_everything_else_fails_with_the_sentence(
    no_provider: Settings, operation
) -> None:
    with pytest.raises(PermanentError) as caught:
        operation(build_service(settings=no_provider))
    assert str(caught.value) == NO_PROVIDER
