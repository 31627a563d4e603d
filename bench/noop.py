"""The baseline task for bench/overhead.py: a bare Celery task with no registry behind it."""

from config.celery_config import celery_app


@celery_app.task(name="bench.noop")
def noop() -> None:
    """Do nothing, as fast as Celery allows."""
