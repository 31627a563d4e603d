"""Built-in notifications (welcome, job finished, job failed, report ready) with checked context.

Each has `templates/<name>.html` and `templates/<name>.txt`; the subject lives here. A context
missing a required value, or carrying one the notification does not use, is refused with a
sentence before anything is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

from app.errors import PermanentError
from app.mail.render import RenderedMessage
from app.mail.sandbox import BoundedSandbox

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
APP_NAME = "Nexus"
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Notification:
    """A notification kind: its subject template and the context it needs and accepts."""

    name: str
    title: str
    subject: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


NOTIFICATIONS: dict[str, Notification] = {
    n.name: n
    for n in (
        Notification("welcome", "Welcome", "Welcome to {{ app_name }}, {{ name }}",
                     required=("name",), optional=("app_url",)),
        Notification("job_finished", "Job finished", "Finished: {{ job_name }}",
                     required=("job_name", "job_id"), optional=("finished_at", "summary", "link")),
        Notification("job_failed", "Job failed", "Failed: {{ job_name }}",
                     required=("job_name", "job_id", "error"), optional=("link",)),
        Notification("report_ready", "Report ready", "Your report is ready: {{ report_name }}",
                     required=("report_name",), optional=("period", "summary", "link")),
    )
}

_ENV = BoundedSandbox(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def get_notification(name: str) -> Notification:
    """The notification called `name`; PermanentError naming the known ones otherwise."""
    try:
        return NOTIFICATIONS[name]
    except KeyError:
        known = ", ".join(sorted(NOTIFICATIONS))
        raise PermanentError(f"There is no notification called {name!r}; use one of: {known}.") \
            from None


def validate_context(notification: Notification, context: Mapping[str, Any]) -> dict[str, Any]:
    """The context with every optional value present; PermanentError on a missing or odd one."""
    missing = [k for k in notification.required if _blank(context.get(k))]
    if missing:
        raise PermanentError(
            f"The {notification.title.lower()} notification needs {_and(missing)}."
        )
    unknown = sorted(set(context) - set(notification.fields))
    if unknown:
        raise PermanentError(
            f"The {notification.title.lower()} notification does not use {_and(unknown)};"
            f" it takes {_and(list(notification.fields))}."
        )
    for key, value in context.items():
        if value is not None and not isinstance(value, _SCALARS):
            raise PermanentError(f"The value of {key} must be text or a number.")
    return {**dict.fromkeys(notification.optional), **context, "app_name": APP_NAME}


def render_notification(name: str, context: Mapping[str, Any]) -> RenderedMessage:
    """Subject, text and HTML of notification `name` for `context`."""
    notification = get_notification(name)
    values = validate_context(notification, context)
    subject = _ENV.from_string(notification.subject).render(values).strip()
    return RenderedMessage(
        subject=" ".join(subject.split()),
        text=_ENV.get_template(f"{name}.txt").render(values),
        html=_ENV.get_template(f"{name}.html").render(values),
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
