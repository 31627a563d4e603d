from __future__ import annotations

import pytest

from app.errors import PermanentError
from app.mail.addresses import HeaderInjection
from app.mail.render import MessageTemplate, TemplateProblem

TEMPLATE = MessageTemplate(
    subject="Your {{ plan }} plan, {{ name }}",
    text="Dear {{ name }},\nyou pay {{ price }}.",
    html="<p>Dear {{ name }}, you pay {{ price }}.</p>",
)


def test_each_part_is_rendered_for_the_recipient() -> None:
    out = TEMPLATE.render({"name": "Ann", "plan": "Pro", "price": "€10"})
    assert out.subject == "Your Pro plan, Ann"
    assert out.text == "Dear Ann,\nyou pay €10."
    assert out.html == "<p>Dear Ann, you pay €10.</p>"


def test_html_is_escaped_but_text_and_subject_are_not() -> None:
    out = TEMPLATE.render({"name": "<b>Bo</b> & co", "plan": "x", "price": "1"})
    assert out.html == "<p>Dear &lt;b&gt;Bo&lt;/b&gt; &amp; co, you pay 1.</p>"
    assert out.text.startswith("Dear <b>Bo</b> & co,")
    assert out.subject == "Your x plan, <b>Bo</b> & co"


def test_a_missing_value_is_a_sentence_naming_the_variable() -> None:
    with pytest.raises(TemplateProblem) as caught:
        TEMPLATE.render({"name": "Ann", "plan": "Pro"})
    assert str(caught.value) == (
        "The text body template uses {{ price }}, which has no value for this recipient."
    )
    assert isinstance(caught.value, PermanentError)


def test_columns_are_checked_before_anything_is_sent() -> None:
    assert TEMPLATE.variables() == {"name", "plan", "price"}
    with pytest.raises(TemplateProblem, match=r"uses \{\{ plan \}\} and \{\{ price \}\}"):
        TEMPLATE.check_fields(["name", "email"])
    TEMPLATE.check_fields(["name", "plan", "price"])


def test_the_sandbox_refuses_reaching_into_python() -> None:
    evil = MessageTemplate(subject="{{ name.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateProblem, match="not allowed"):
        evil.render({"name": "x"})


def test_syntax_errors_say_where() -> None:
    with pytest.raises(TemplateProblem, match="subject template has a syntax error on line 1"):
        MessageTemplate(subject="Hi {{ name ").variables()


def test_a_value_cannot_smuggle_a_header_through_the_subject() -> None:
    with pytest.raises(HeaderInjection):
        MessageTemplate(subject="Hi {{ name }}").render({"name": "x\r\nBcc: evil@example.com"})
