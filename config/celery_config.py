"""The Celery app: queues, routes, reliability settings and the beat schedule.

`celery -A config.celery_config worker -Q files` starts a worker for one queue.
"""

from __future__ import annotations

import pkgutil
from datetime import timedelta
from pathlib import Path

from celery import Celery
from celery.schedules import crontab
from kombu import Exchange, Queue

from app.settings import QUEUES, get_settings

TASKS_PACKAGE = "app.tasks"
PRIORITY_STEPS = list(range(10))
DEFAULT_PRIORITY = 5

# Hard time limits in seconds; the soft limit fires a little earlier so a task can clean up.
HARD_TIME_LIMITS: dict[str, int] = {
    "email": 1800,
    "files": 900,
    "ai": 600,
    "reports": 1800,
    "ocr": 3600,  # a long scan; ocr_page_timeout bounds each page inside it
    "maintenance": 600,
}


def time_limits(queue: str, visibility_timeout: int) -> tuple[int, int]:
    """(soft, hard) limits for a queue, always inside the visibility timeout.

    A task still running when the visibility timeout passes is handed to a second worker, so the
    hard limit is clamped below it whatever the settings say.
    """
    hard = min(HARD_TIME_LIMITS[queue], int(visibility_timeout * 0.9))
    soft = hard - max(2, hard // 30)
    return soft, hard


class QueueTimeLimits:
    """A task annotation giving each task the time limits of the queue its module routes to."""

    def __init__(self, visibility_timeout: int) -> None:
        self.visibility_timeout = visibility_timeout

    def annotate(self, task) -> dict | None:
        queue = queue_for_module(task.name.rsplit(".", 1)[0])
        if queue is None:
            return None
        soft, hard = time_limits(queue, self.visibility_timeout)
        return {"soft_time_limit": soft, "time_limit": hard}


def task_modules() -> list[str]:
    """Every module in app/tasks that defines tasks: a new queue's module needs no registration."""
    folder = Path(__file__).resolve().parent.parent / "app" / "tasks"
    return sorted(
        f"{TASKS_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules([str(folder)])
        if info.name.endswith("_tasks") or info.name == "diagnostics"
    )


def queue_for_module(module: str) -> str | None:
    """The queue a task module's tasks run on: app.tasks.file_tasks -> files."""
    short = module.rsplit(".", 1)[-1]
    table = {
        "email_tasks": "email",
        "file_tasks": "files",
        "ai_tasks": "ai",
        "report_tasks": "reports",
        "ocr_tasks": "ocr",
        "maintenance_tasks": "maintenance",
        "diagnostics": "maintenance",
    }
    return table.get(short)


def route_task(name: str, args, kwargs, options, task=None, **kw) -> dict | None:
    """Route by module; Celery's own canvas tasks go to maintenance, which always has a worker."""
    module = name.rsplit(".", 1)[0]
    queue = queue_for_module(module)
    if queue is None and name.startswith("celery."):
        queue = "maintenance"
    return {"queue": queue} if queue else None


MAINTENANCE = f"{TASKS_PACKAGE}.maintenance_tasks"


def _every(task: str, schedule: timedelta | crontab, expires: float) -> dict:
    """A beat entry whose message expires unread, so runs never pile up while a worker is down."""
    return {"task": task, "schedule": schedule, "options": {"expires": expires}}


BEAT_SCHEDULE = {
    "monitor-queue-sizes": _every(f"{MAINTENANCE}.monitor_queue_sizes", timedelta(minutes=1), 55),
    "health-check": _every(f"{MAINTENANCE}.health_check", timedelta(minutes=5), 290),
    "cleanup-temp-files": _every(f"{MAINTENANCE}.cleanup_temp_files", crontab(minute=7), 3000),
    "cleanup-old-results": _every(
        f"{MAINTENANCE}.cleanup_old_results", crontab(hour=3, minute=17), 6 * 3600
    ),
    "cleanup-failed-tasks": _every(
        f"{MAINTENANCE}.cleanup_failed_tasks", crontab(hour=3, minute=27), 6 * 3600
    ),
    "archive-old-files": _every(
        f"{MAINTENANCE}.archive_old_files", crontab(hour=3, minute=37), 6 * 3600
    ),
    # Scheduled emails live in Redis; this moves the due ones onto the email queue.
    # Jobs left STARTED by a worker that vanished with their message: ended, never "running".
    "end-orphaned-jobs": _every(f"{MAINTENANCE}.end_orphaned_jobs", timedelta(minutes=1), 55),
    "dispatch-due-emails": _every(
        f"{TASKS_PACKAGE}.email_tasks.dispatch_due_emails", timedelta(seconds=15), 14
    ),
}


def _queues() -> list[Queue]:
    return [
        Queue(name, Exchange(name, type="direct"), routing_key=name, queue_arguments={})
        for name in QUEUES
    ]


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("nexus", broker=settings.broker_url, backend=settings.backend_url)
    app.conf.update(
        include=task_modules(),
        task_queues=_queues(),
        task_default_queue="maintenance",
        task_routes=(route_task,),
        task_create_missing_queues=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # The registry records STARTED (JobTask); a STARTED result in the backend, one more
        # write per task, was read by nothing.
        task_track_started=False,
        task_default_priority=DEFAULT_PRIORITY,
        task_inherit_parent_priority=True,
        task_annotations=[QueueTimeLimits(settings.visibility_timeout)],
        result_extended=False,  # nothing reads args or kwargs back from the result backend
        result_expires=settings.result_expires,
        # One at a time unless the worker's plan says otherwise (app.runtime.processes: queues of
        # short tasks prefetch more, with --prefetch-multiplier).
        worker_prefetch_multiplier=1,
        # Flower's task list and metrics are built from the workers' task events: they stay.
        # The publisher's task-sent event was a fifth round trip on every submit; Flower lists a
        # job from the worker's task-received instead, and queued jobs are the registry's.
        worker_send_task_events=True,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for messages a dead worker left unacknowledged every few seconds, so they are
            # redelivered soon after their visibility timeout rather than minutes later.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
            "priority_steps": PRIORITY_STEPS,
            "queue_order_strategy": "priority",
        },
        # Outages (README "Faults"): a Redis that does not answer fails a publish or a result
        # lookup within a few seconds, so a submit says so instead of hanging; workers keep
        # reconnecting on their own, and hold their registry writes until Redis is back.
        result_backend_transport_options={"retry_policy": {"timeout": 3.0}},
        redis_socket_connect_timeout=3,
        redis_socket_timeout=10,
        broker_connection_timeout=3,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # Memory of files and reports children: replaced after a task leaves them this large;
        # presence.limit_child_memory also caps their address space (CHILD_ADDRESS_SPACE_MB).
        worker_max_memory_per_child=settings.child_max_rss_mb * 1024 or None,
        beat_schedule=BEAT_SCHEDULE,
        beat_scheduler="app.runtime.beat:OutageTolerantScheduler",  # survives Redis restarts
        redbeat_redis_url=settings.redis_url,
        redbeat_redis_options={"socket_connect_timeout": 5, "retry_period": 60},
        redbeat_key_prefix=f"{settings.registry_prefix}:redbeat:",
        redbeat_lock_timeout=300,
        beat_max_loop_interval=5,
        timezone="UTC",
        enable_utc=True,
    )
    return app


celery_app = make_celery()

# Connected wherever the app loads: publishers record new jobs, workers record the rest.
from app.tasks import presence, recording  # noqa: E402,F401
