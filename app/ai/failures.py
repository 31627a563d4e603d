"""SDK exceptions turned into the platform's two kinds of failure, with sentences a user reads.

Rate limits, overload, 5xx, timeouts and dropped connections are transient and carry the peer's
Retry-After; refused keys, refused permissions, exhausted spend and bad requests are permanent.
No message ever carries an API key: the peer's own wording is scrubbed before it is quoted.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from app.errors import JobError, PermanentError, TransientError

# A peer may echo part of the key ("Incorrect API key provided: sk-ab***yz").
_KEY_LIKE = re.compile(r"\b(sk|key|pk)-[A-Za-z0-9_\-*.]{3,}")
# Structured codes are trusted; of free text only phrases no plain rate-limit message contains
# (OpenAI's 429 text can mention "billing" while being an ordinary, retryable rate limit).
_SPEND_CODES = ("insufficient_quota", "billing_error", "spend_limit", "billing_hard_limit")
_SPEND_PHRASES = ("credit balance", "spend limit", "spending limit")
_MAX_QUOTE = 300

TRANSIENT_STATUS = frozenset({408, 425, 429})


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with every known secret and anything shaped like an API key removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the peer asked us to wait, from retry-after-ms or Retry-After (seconds or a date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def to_job_error(exc: Exception, label: str, env_var: str, secrets: Iterable[str] = ()) -> JobError:
    """The platform error for an exception an SDK raised while talking to `label`."""
    if isinstance(exc, JobError):
        return exc
    kind = _sdk_kind(exc)
    if kind == "timeout":
        return TransientError(f"{label} did not answer in time; the request will be retried.")
    if kind == "connection":
        return TransientError(f"Could not connect to {label}; the request will be retried.")
    if kind == "status":
        return _from_status(exc, label, env_var, list(secrets))
    return PermanentError(f"{label} failed unexpectedly: {scrub(str(exc), secrets)[:_MAX_QUOTE]}")


def _sdk_kind(exc: Exception) -> str | None:
    """Which family of SDK error this is. Both official SDKs share these class names; matching
    by name keeps this module from importing the SDKs, which are slow to load."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "APITimeoutError" in names:
        return "timeout"
    if "APIConnectionError" in names:
        return "connection"
    if "APIStatusError" in names:
        return "status"
    return None


def _from_status(exc: Any, label: str, env_var: str, secrets: list[str]) -> JobError:
    status = exc.status_code
    detail = scrub(_peer_message(exc), secrets)[:_MAX_QUOTE]
    if status == 402 or _is_spend_limit(exc, detail):
        return PermanentError(
            f"{label} refused the request because the account has reached its spending limit "
            "or has no credit left. Add credit or raise the limit, then try again."
        )
    if status in TRANSIENT_STATUS or status >= 500:
        return _transient(status, label, retry_after(exc.response.headers))
    if status == 401:
        return PermanentError(f"{label} rejected the API key (401). Check {env_var}.")
    if status == 403:
        return PermanentError(
            f"{label} refused access (403): this key may not use that model or feature. {detail}"
        )
    if status == 404:
        return PermanentError(f"{label} does not know that model or endpoint (404). {detail}")
    if status == 413:
        return PermanentError(f"The request is too large for {label} (413).")
    return PermanentError(f"{label} rejected the request ({status}): {detail}")


def _transient(status: int, label: str, wait: float | None) -> TransientError:
    if status == 429:
        message = f"{label} is rate limiting requests (429); the request will be retried."
    elif status == 529:
        message = f"{label} is overloaded right now (529); the request will be retried."
    else:
        message = f"{label} answered with a server error ({status}); the request will be retried."
    return TransientError(message, retry_after=wait)


def _peer_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", "") or "")


def _is_spend_limit(exc: Any, detail: str) -> bool:
    if any(phrase in detail.lower() for phrase in _SPEND_PHRASES):
        return True
    body = getattr(exc, "body", None)
    # Anthropic's SDK keeps the whole body; OpenAI's keeps only the inner "error" object.
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        return False
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    codes = [
        str(error.get("type", "")),
        str(error.get("code", "")),
        str(details.get("error_code", "")),
    ]
    return any(word in code.lower() for code in codes for word in _SPEND_CODES)
