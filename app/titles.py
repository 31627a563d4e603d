"""A job's title: what a person would call it, read from its displayed parameters.

The email's subject, the report's title, the file's name, the opening words of a prompt; the
kind in words when nothing better is there. Works on any record, old ones included.
"""

from __future__ import annotations

from typing import Any

MAX_CHARS = 60
NAMED_BY = ("subject", "title", "name")
FILES = ("files", "attachments")
PROSE = ("prompt", "message", "question", "brief", "text", "prompts")
PREFIXES = {"translate_text": "Translate: ", "analyze_document": "Analyse: "}


def title_of(kind: str, params: dict[str, Any] | None) -> str:
    """The title of a job of `kind` with these (summarised) parameters; never empty."""
    params = params or {}
    title = _named(params) or _files(params) or _prose(params)
    if not title:
        return kind.replace("_", " ").capitalize()
    return PREFIXES.get(kind, "") + _clip(title)


def _named(params: dict[str, Any]) -> str:
    return next((_text(params[k]) for k in NAMED_BY if _text(params.get(k))), "")


def _files(params: dict[str, Any]) -> str:
    for key in FILES:
        names = [f["name"] for f in params.get(key) or [] if isinstance(f, dict) and "name" in f]
        if names:
            more = len(params[key]) - 1
            return names[0] + (f" + {more} more" if more else "")
    return ""


def _prose(params: dict[str, Any]) -> str:
    for key in PROSE:
        value = params.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), "")
        if _text(value):
            return " ".join(_text(value).split())
    return ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"
