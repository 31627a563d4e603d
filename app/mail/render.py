"""Jinja2 templates for subjects and bodies, rendered per recipient in a sandbox.

HTML bodies are autoescaped, so a recipient's name cannot inject markup; subjects and text
bodies are not. Undefined variables are errors, reported as a sentence naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    meta,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from app.errors import PermanentError
from app.mail.addresses import check_header
from app.mail.sandbox import BoundedSandbox, render_bounded

_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return BoundedSandbox(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True
    )


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


class TemplateProblem(PermanentError):
    """A template that cannot be rendered, said as a sentence."""


@dataclass(frozen=True)
class MessageTemplate:
    """Subject, text and HTML templates checked once, rendered for each recipient."""

    subject: str
    text: str | None = None
    html: str | None = None

    def variables(self) -> set[str]:
        """Every top-level variable the templates use."""
        names: set[str] = set()
        for label, source, env in self._parts():
            ast = _parse(env, source, label)
            names |= meta.find_undeclared_variables(ast)
        return names

    def check_fields(self, fields: Iterable[str]) -> None:
        """Raise TemplateProblem when the templates use a variable no recipient can provide."""
        missing = sorted(self.variables() - set(fields))
        if missing:
            raise TemplateProblem(
                f"The template uses {_names(missing)}, but the recipients have no such "
                f"{'column' if len(missing) == 1 else 'columns'}."
            )

    def render(self, context: Mapping[str, Any]) -> RenderedMessage:
        """Subject and bodies for one recipient; raises TemplateProblem on any template error."""
        subject = _render(_TEXT_ENV, self.subject, context, "subject")
        subject = check_header("subject", subject.strip())
        return RenderedMessage(
            subject=subject,
            text=_render(_TEXT_ENV, self.text, context, "text body") if self.text else None,
            html=_render(_HTML_ENV, self.html, context, "HTML body") if self.html else None,
        )

    def render_preview(self, context: Mapping[str, Any], seconds: float = 5.0) -> RenderedMessage:
        """render() off the caller's thread, given up after `seconds` (for the web server)."""
        # The sandbox's operator caps stop the costly cases; this timeout is the backstop that
        # keeps a page responsive if something slips past them.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="template-preview")
        try:
            return pool.submit(self.render, context).result(timeout=seconds)
        except FutureTimeout:
            raise TemplateProblem(
                f"The template took longer than {seconds:g} seconds to render; simplify it."
            ) from None
        finally:
            pool.shutdown(wait=False)

    def _parts(self) -> list[tuple[str, str, SandboxedEnvironment]]:
        parts = [("subject", self.subject, _TEXT_ENV)]
        if self.text:
            parts.append(("text body", self.text, _TEXT_ENV))
        if self.html:
            parts.append(("HTML body", self.html, _HTML_ENV))
        return parts


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str | None
    html: str | None


def _names(names: list[str]) -> str:
    quoted = [f"{{{{ {n} }}}}" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"


def _parse(env: SandboxedEnvironment, source: str, label: str):
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"The {label} template has a syntax error on line {exc.lineno}: {exc.message}."
        ) from None


@lru_cache(maxsize=256)
def _compiled(autoescape: bool, source: str) -> Template:
    # Compiling costs a hundred renders; a bulk send renders the same source for everyone.
    return (_HTML_ENV if autoescape else _TEXT_ENV).from_string(source)


def _render(env: SandboxedEnvironment, source: str, context: Mapping[str, Any], label: str) -> str:
    try:
        template = _compiled(env is _HTML_ENV, source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"The {label} template has a syntax error on line {exc.lineno}: {exc.message}."
        ) from None
    try:
        return render_bounded(template, context, label)
    except UndefinedError as exc:
        raise TemplateProblem(_undefined_sentence(label, str(exc))) from None
    except SecurityError as exc:
        raise TemplateProblem(
            f"The {label} template tried something not allowed: {_clause(exc)}."
        ) from None
    except TemplateError as exc:
        raise TemplateProblem(
            f"The {label} template could not be rendered: {_clause(exc)}."
        ) from None


def _clause(exc: Exception) -> str:
    return str(exc).rstrip(".")


def _undefined_sentence(label: str, detail: str) -> str:
    match = _UNDEFINED_NAME.search(detail)
    name = (match.group(1) or match.group(2)) if match else None
    if name:
        return f"The {label} template uses {{{{ {name} }}}}, which has no value for this recipient."
    return f"The {label} template uses a value this recipient does not have ({detail})."
