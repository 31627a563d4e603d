"""The platform's Celery app with the delivery settings it had before issue 17, for the bench.

    celery -A bench.before worker -Q maintenance -E ...

Prefetch one message per process for every queue, a STARTED result for every task and a
task-sent event for every publish; bench/overhead.py also publishes with results kept.
"""

from config.celery_config import celery_app

celery_app.conf.update(worker_prefetch_multiplier=1, task_track_started=True,
                       worker_send_task_events=True, task_send_sent_event=True)
