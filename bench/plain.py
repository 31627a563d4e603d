"""The baseline app for bench/overhead.py: Celery with its default settings, nothing of ours.

    celery -A bench.plain worker -P prefork -c 2

It talks to the same Redis as the platform (REDIS_URL through the settings), on Celery's own
`celery` queue, with the Redis result backend, and changes no setting: prefetch 4, early
acknowledgement, no task events, no STARTED state.
"""

from celery import Celery

from app.settings import get_settings

_URL = get_settings().redis_url
plain_app = Celery("plain", broker=_URL, backend=_URL)


@plain_app.task(name="plain.noop")
def noop() -> None:
    """Do nothing, as fast as Celery allows."""
