"""How an AI job calls a model: through the shared rate limiter and the owner's token quota,
with its usage added to the day's totals the moment a call returns, and a look for a cancel
before every step.

Usage is recorded per call, so money spent by a job that later fails is still counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from app import quotas
from app.ai import store
from app.ai.service import AIService, build_service
from app.ai.types import Usage
from app.connection import get_redis, get_registry
from app.errors import JobCancelled
from app.tasks.base import JobTask
from app.tasks.cancel import CANCELLED, confirm_stop, is_cancelled, stop_if_cancelled

log = logging.getLogger(__name__)

LIMIT_WAIT = 75.0  # longer than the limiter's 60-second window


def limiter(
    task: JobTask,
    interrupt: Callable[[], None] | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> store.RateLimiter:
    """The shared limiter, for one job: a cancelled job stops waiting for the window.

    It waits out up to a whole window on its thread: a long document needs more calls than
    a minute allows, and giving up mid-way would make the retry pay for every part again.
    """
    stop = interrupt or (lambda: stop_if_cancelled(task))
    shared = store.RateLimiter(get_redis(), max_wait=LIMIT_WAIT, interrupt=stop, on_wait=on_wait)
    if task.request.called_directly:
        return shared
    # Every model call goes through reserve: the owner's daily tokens are checked right there.
    return quotas.QuotaLimiter(shared, task.owner)  # type: ignore[return-value]


class Steps:
    """A job's progress over model calls, looking for a cancel before each call.

    The job stops itself at its next step and says how far it got. The job id is read once:
    helper threads have no Celery request of their own. With `confirm` False (a batch, which
    confirms once its items have ended) a cancel only raises.
    """

    def __init__(self, task: JobTask, confirm: bool = True) -> None:
        self.task = task
        self.job_id = "" if task.request.called_directly else task.job_id
        self.confirm = confirm
        self.last: dict[str, Any] = {}

    def report(self, current: int, total: int, message: str) -> None:
        """Record progress; raises JobCancelled once the job is cancelled."""
        self.last = {"current": current, "total": total, "message": message}
        self.check()
        try:
            self.task.progress(current, total, message)
        except JobCancelled:
            self.check()  # cancelled since the check above: confirm it, then stop
            raise

    def waiting(self, seconds: float) -> None:
        """Say the job waits for the shared rate limit, at once: no throttle hides this one."""
        if not self.job_id:
            return
        last = self.last or {"current": 0, "total": 1}
        message = f"Waiting for the AI rate limit (about {max(1, round(seconds))} s)"
        get_registry().set_progress(self.job_id, last["current"], last["total"], message)

    def check(self) -> None:
        """Raise JobCancelled when the job is cancelled, confirming how far it got."""
        if not is_cancelled(self.job_id):
            return
        if self.confirm:
            done = (
                f"{self.last['current']} of {self.last['total']} steps done before the cancel."
                if self.last else "Stopped before its first step: the job was cancelled."
            )
            confirm_stop(self.job_id, done, self.last or None)
        raise JobCancelled(CANCELLED)


def record_usage(usage: Usage, owner: str) -> None:
    """Add a call to the day's totals; a Redis hiccup here must not fail work already paid for."""
    try:
        store.record_usage(usage, owner, client=get_redis())
    except redis.RedisError:
        log.warning("Could not add AI usage to the daily totals", exc_info=True)


def service(
    task: JobTask, provider: str | None, model: str | None, confirm: bool = True
) -> AIService:
    """The AI service of one job: it checks for a cancel before every step and limiter wait."""
    owner = task.owner if not task.request.called_directly else ""
    steps = Steps(task, confirm)
    return build_service(
        provider,
        model,
        limiter=limiter(task, steps.check, steps.waiting),
        on_usage=lambda usage: record_usage(usage, owner),
        on_progress=steps.report,
    )
