"""The two kinds of failure every task can raise.

Pure code (app/office, app/ai, app/mail, app/reports) raises these; the task base class decides
from the kind alone whether a job retries. The message is shown to the user, so it must be a
sentence a person understands.
"""

from __future__ import annotations


class JobError(Exception):
    """A failure whose message is meant for the user."""


class PermanentError(JobError):
    """Retrying cannot help: bad input, a refused credential, a 5xx answer from a mail server."""


class TransientError(JobError):
    """Retrying may help: a refused connection, a 429, a timeout.

    `retry_after` (seconds) is honoured when the peer said how long to wait.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobCancelled(JobError):
    """The user cancelled the job while it was running."""


class Unavailable(Exception):
    """Redis (the broker and the registry) cannot be reached right now; try again shortly.

    Raised by app.jobs instead of a hang or a driver's exception, so a page or the API can say
    one sentence and retry.
    """

    SENTENCE = "Redis is not reachable — retrying in a moment."

    def __init__(self, message: str = SENTENCE) -> None:
        super().__init__(message)
