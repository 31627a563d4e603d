"""Templates cannot freeze or flood the process that renders them (hardening point 2)."""

from __future__ import annotations

import time

import pytest

from app.errors import PermanentError
from app.mail import notifications
from app.mail.render import MessageTemplate
from app.mail.sandbox import MAX_OUTPUT_CHARS, BoundedSandbox, TemplateTooCostly, render_bounded


def _render_body(text: str) -> str:
    return MessageTemplate(subject="Hi", text=text).render({}).text or ""


def test_a_huge_power_is_refused_quickly_with_a_sentence() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateTooCostly) as caught:
        _render_body("{{ (9**(9**7)) % 7 }}")
    assert time.monotonic() - started < 0.5
    assert str(caught.value).startswith("The template computes a number too large to show "
                                        "(9**4782969)")
    assert isinstance(caught.value, PermanentError)


def test_a_huge_repetition_is_refused_before_allocating() -> None:
    with pytest.raises(TemplateTooCostly, match="repeats a value 300,000,000 times"):
        _render_body("{{ 'A'*300000000 }}")


@pytest.mark.parametrize("source", [
    "{{ '%300000000s' % 'x' }}",
    "{{ 'x'|center(300000000) }}",
    "{{ '%300000000s'|format('x') }}",
])
def test_padding_to_a_huge_width_is_refused(source: str) -> None:
    with pytest.raises(TemplateTooCostly, match="pads a value wider"):
        _render_body(source)


def test_output_past_the_cap_is_refused_naming_the_limit() -> None:
    # Each piece is within the caps; their sum is not.
    source = "{% for i in range(30) %}{{ 'A' * 900000 }}{% endfor %}"
    with pytest.raises(TemplateTooCostly) as caught:
        _render_body(source)
    assert str(caught.value) == (
        f"The text body would be longer than {MAX_OUTPUT_CHARS:,} characters; "
        "shorten the template."
    )


def test_a_render_past_its_deadline_is_stopped() -> None:
    env = BoundedSandbox()
    slow = env.from_string("{% for i in range(100000) %}{% for j in range(100000) %}"
                           "{{ i * j }}{% endfor %}{% endfor %}")
    started = time.monotonic()
    with pytest.raises(TemplateTooCostly, match="takes too long"):
        render_bounded(slow, {}, "text body", seconds=0.2)
    assert time.monotonic() - started < 2


def test_ordinary_arithmetic_still_works() -> None:
    source = "{{ 2**10 }} {{ 3*4 }} {{ '-'*5 }} {{ 7 % 3 }} {{ -2 }} {{ '%5s' % 'a' }}"
    assert _render_body(source) == "1024 12 ----- 1 -2     a"


def test_the_preview_runs_off_thread_and_refuses_the_same_way() -> None:
    template = MessageTemplate(subject="Hi {{ 9**(9**7) }}")
    with pytest.raises(TemplateTooCostly, match="too large to show"):
        template.render_preview({})
    assert MessageTemplate(subject="Hi {{ 2**3 }}").render_preview({}).subject == "Hi 8"


def test_the_preview_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    template = MessageTemplate(subject="Hi")
    monkeypatch.setattr(MessageTemplate, "render", lambda self, context: time.sleep(2))
    started = time.monotonic()
    with pytest.raises(PermanentError, match=r"took longer than 0\.2 seconds"):
        template.render_preview({}, seconds=0.2)
    assert time.monotonic() - started < 1


def test_notifications_use_the_bounded_sandbox() -> None:
    assert isinstance(notifications._ENV, BoundedSandbox)
