"""Maintenance jobs that beat runs on the maintenance queue; each calls app.maintenance."""

from __future__ import annotations

from app import maintenance, monitor
from app.tasks.base import JobTask
from config.celery_config import celery_app


@celery_app.task(bind=True, base=JobTask, internal=True)
def cleanup_temp_files(self: JobTask, now: float | None = None) -> dict:
    """Hourly: temp files over an hour old."""
    return maintenance.cleanup_temp_files(now)


@celery_app.task(bind=True, base=JobTask, internal=True)
def cleanup_old_results(self: JobTask, now: float | None = None) -> dict:
    """Daily: the retention, applied to the registry and to storage; then a storage recount."""
    return {**maintenance.cleanup_old_results(now), "storage": maintenance.recount_storage()}


@celery_app.task(bind=True, base=JobTask, internal=True)
def cleanup_failed_tasks(self: JobTask, now: float | None = None) -> dict:
    """Daily: dead letters older than the retention."""
    return maintenance.cleanup_failed_tasks(now)


@celery_app.task(bind=True, base=JobTask, internal=True)
def archive_old_files(self: JobTask, now: float | None = None) -> dict:
    """Daily: old job folders into dated zip archives."""
    return maintenance.archive_old_files(now)


@celery_app.task(bind=True, base=JobTask, internal=True)
def health_check(self: JobTask) -> dict:
    """Every five minutes: Redis, workers per queue, disk space; shown on Home."""
    report = monitor.check_health()
    monitor.save_health(report)
    return report


@celery_app.task(bind=True, base=JobTask, internal=True)
def monitor_queue_sizes(self: JobTask, now: float | None = None) -> dict:
    """Every minute: one sample of every queue's length, for the monitor's chart."""
    return monitor.record_sample(now)


@celery_app.task(bind=True, base=JobTask, internal=True)
def end_orphaned_jobs(
    self: JobTask, now: float | None = None, grace: float | None = None
) -> dict:
    """Every minute: jobs left running by a vanished worker whose message is gone end FAILURE."""
    return maintenance.end_orphaned_jobs(now, grace)
