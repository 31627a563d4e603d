"""A Jinja sandbox with bounded arithmetic, output length and render time.

The stock sandbox stops attribute tricks but not cost: `{{ 9**(9**7) }}` holds the GIL for
seconds and `{{ 'A'*300000000 }}` allocates 300 MB. This one refuses such operations before they
run, stops output past a length cap, and checks a deadline at every operator, call and output
chunk. Every refusal is a TemplateTooCostly (a PermanentError) whose message is a sentence.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Template
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from app.errors import PermanentError

MAX_DIGITS = 4000  # the largest number a template may compute; Python's str() stops at 4300
MAX_OUTPUT_CHARS = 1_000_000  # per rendered part: far above any real email
RENDER_SECONDS = 2.0  # per rendered part

_deadline: ContextVar[float | None] = ContextVar("template_deadline", default=None)
_WIDTH = re.compile(r"%[-+ #0]*(\d+)")


class TemplateTooCostly(PermanentError):
    """A template that would take too much time or memory to render."""


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment whose `**`, `*`, `%` and output cannot grow without bound."""

    # Intercepting also stops Jinja folding constants at compile time, which would run the
    # costly operation inside from_string, before any check.
    intercepted_binops = frozenset({"**", "*", "%"})
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # These filters pad to a width the template chooses, allocating before any output cap.
        for name in ("center", "indent", "format"):
            self.filters[name] = _bounded_filter(self.filters[name])

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        """Apply an intercepted operator after refusing results too large to hold."""
        check_deadline()
        if operator_ == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        if operator_ == "*":
            _check_product(left, right)
            return operator.mul(left, right)
        _check_format(left)
        return operator.mod(left, right)

    def call_unop(self, context: Context, operator_: str, arg: Any) -> Any:
        """Apply unary + or - (cheap; intercepted so the deadline is checked)."""
        check_deadline()
        return -arg if operator_ == "-" else +arg

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call in a template checks the deadline first."""
        check_deadline()
        return super().call(__context, __obj, *args, **kwargs)


def render_bounded(
    template: Template,
    context: Mapping[str, Any],
    label: str,
    max_chars: int = MAX_OUTPUT_CHARS,
    seconds: float = RENDER_SECONDS,
) -> str:
    """Render `template` with `context`; TemplateTooCostly past `max_chars` or `seconds`."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        return _joined(template.generate(dict(context)), label, max_chars)
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Raise TemplateTooCostly when the current render has run out of time."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateTooCostly(
            "The template takes too long to render; simplify its loops and calculations."
        )


def _joined(chunks: Iterator[str], label: str, max_chars: int) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_chars:
            raise TemplateTooCostly(
                f"The {label} would be longer than {max_chars:,} characters; shorten the template."
            )
        parts.append(chunk)
        check_deadline()
    return "".join(parts)


def _check_power(base: Any, exponent: Any) -> None:
    if not (_is_int(base) and _is_int(exponent)) or exponent <= 0 or abs(base) <= 1:
        return  # floats overflow with an error of their own; 0, 1 and -1 stay small
    digits = exponent * math.log10(abs(base))
    if digits > MAX_DIGITS:
        raise TemplateTooCostly(
            f"The template computes a number too large to show ({_short(base)}**{exponent}); "
            f"results are limited to {MAX_DIGITS:,} digits."
        )


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        if _digits(left) + _digits(right) > MAX_DIGITS:
            raise TemplateTooCostly(
                f"The template computes a number too large to show; results are limited to "
                f"{MAX_DIGITS:,} digits."
            )
        return
    sequence, times = (left, right) if _is_int(right) else (right, left)
    if _is_int(times) and hasattr(sequence, "__len__") and len(sequence) * times > MAX_OUTPUT_CHARS:
        raise TemplateTooCostly(
            f"The template repeats a value {times:,} times, making more than "
            f"{MAX_OUTPUT_CHARS:,} characters; shorten it."
        )


def _check_format(left: Any) -> None:
    # '%300000000s' % x would allocate the padding before any output cap sees it.
    if isinstance(left, str) and any(int(w) > MAX_OUTPUT_CHARS for w in _WIDTH.findall(left)):
        raise TemplateTooCostly(
            f"The template pads a value wider than {MAX_OUTPUT_CHARS:,} characters; shorten it."
        )


def _bounded_filter(original: Any) -> Any:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in [value, *args, *kwargs.values()]:
            if _is_int(arg) and arg > MAX_OUTPUT_CHARS:
                raise TemplateTooCostly(
                    f"The template pads a value wider than {MAX_OUTPUT_CHARS:,} characters; "
                    "shorten it."
                )
            _check_format(arg)
        return original(value, *args, **kwargs)

    bounded.__name__ = original.__name__
    return bounded


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _digits(value: int) -> int:
    return math.ceil(abs(value).bit_length() * math.log10(2)) if value else 1


def _short(value: int) -> str:
    return str(value) if _digits(value) <= 20 else f"a {_digits(value)}-digit number"
