"""Celery adapters for the reports queue: each task unpacks its arguments, calls one builder of
app.reports.build and returns its summary; recurring reports live in app.schedules.

The AI and email queues are used when they are installed and configured; without them the
executive summary comes from the offline analyser and scheduled reports stay in their job.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from celery import Task

from app import schedules, storage
from app.connection import get_registry
from app.errors import PermanentError
from app.reports import build, recurring
from app.reports.render import REPORT_FORMATS
from app.tasks.base import JobTask
from config.celery_config import celery_app

if TYPE_CHECKING:
    from app.ai.service import AIService
    from app.registry import Registry

EMAIL_TASK_MODULE = "app.tasks.email_tasks"
AI_CALLS_MODULE = "app.tasks.ai_calls"


class ReportTask(JobTask):
    """A reports-queue job: what app.reports.build.ReportJob asks of it besides files."""

    def job_history(self) -> Registry:
        """The job registry, which task-performance reports read."""
        return get_registry()

    def ai_service(self, provider: str | None, model: str | None) -> AIService | None:
        """This job's AI service when the AI area is installed, else None."""
        if importlib.util.find_spec(AI_CALLS_MODULE) is None:
            return None
        return importlib.import_module(AI_CALLS_MODULE).service(self, provider, model)


REPORT_TASK = {"bind": True, "base": ReportTask, "max_retries": 2}


@celery_app.task(**REPORT_TASK)
def generate_analytics_report(
    self: ReportTask,
    files: list[dict] | None = None,
    title: str = "Data report",
    group_by: str | None = None,
    value_column: str | None = None,
    date_column: str | None = None,
    top_n: int = 10,
    formats: list[str] | None = None,
    sheet: str | int | None = None,
) -> dict:
    """Statistics, group-by aggregates, top rows, a time series and charts for one table."""
    return build.analytics(
        self,
        files=files,
        title=title,
        group_by=group_by,
        value_column=value_column,
        date_column=date_column,
        top_n=top_n,
        formats=formats or REPORT_FORMATS,
        sheet=sheet,
    )


@celery_app.task(**REPORT_TASK)
def generate_summary_report(
    self: ReportTask,
    files: list[dict] | None = None,
    title: str = "Executive report",
    group_by: str | None = None,
    value_column: str | None = None,
    date_column: str | None = None,
    top_n: int = 10,
    formats: list[str] | None = None,
    sheet: str | int | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict:
    """The analytics report with an executive summary labelled by who wrote it."""
    return build.summary_report(
        self,
        files=files,
        title=title,
        group_by=group_by,
        value_column=value_column,
        date_column=date_column,
        top_n=top_n,
        formats=formats or REPORT_FORMATS,
        sheet=sheet,
        provider=provider,
        model=model,
    )


@celery_app.task(**REPORT_TASK)
def export_data(
    self: ReportTask,
    files: list[dict] | None = None,
    records: list[dict] | None = None,
    formats: list[str] | None = None,
    sheet: str | int | None = None,
) -> dict:
    """Export records to CSV, XLSX, JSON or XML; output names are generated, never the user's."""
    return build.export(self, files=files, records=records, formats=formats or ["csv"], sheet=sheet)


@celery_app.task(**REPORT_TASK)
def generate_task_performance_report(
    self: ReportTask,
    start: str | float | None = None,
    end: str | float | None = None,
    days: float | None = 7,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    title: str = "Task performance",
    formats: list[str] | None = None,
) -> dict:
    """Jobs per kind, queue and state, success rate, retries, waits and run times, failures."""
    return build.task_performance(
        self,
        start=start,
        end=end,
        days=days,
        kinds=kinds,
        queues=queues,
        title=title,
        formats=formats or REPORT_FORMATS,
    )


# recurring reports ---------------------------------------------------------------------------


@celery_app.task(**REPORT_TASK)
def schedule_recurring_report(
    self: ReportTask,
    report: str,
    cron: str,
    recipients: list[str] | str | None = None,
    name: str = "Recurring report",
    params: dict | None = None,
    files: list[dict] | None = None,
) -> dict:
    """Store a recurring report that beat runs on a cron schedule (UTC) and emails to recipients."""
    self.progress(0, 2, "Checking the schedule")
    schedule_id = recurring.new_id()
    saved = schedules.create(
        schedule_id=schedule_id,
        name=name,
        report=report,
        params=build.schedule_params(self, report, params, files, schedule_id),
        cron=cron,
        recipients=recipients or [],
        owner=self.owner,
        by_admin=self.by_admin,
    )
    self.progress(2, 2, "Scheduled")
    return {
        "schedule_id": schedule_id,
        "name": saved["name"],
        "cron": saved["cron"],
        "next_run": saved.get("next_run"),
        "recipients": saved["recipients"],
        "email_available": email_task() is not None,
    }


@celery_app.task(**REPORT_TASK, trusted_input_roots=("schedules",), internal=True)
def run_scheduled_report(self: ReportTask, schedule_id: str) -> dict:
    """One run of a recurring report, started by beat: build it, then email the outputs."""
    definition = schedules.get(schedule_id, owner=self.owner)
    if definition is None:
        raise PermanentError("This recurring report was deleted before it ran.")
    schedules.record_run(schedule_id, self.job_id)
    result = build.scheduled_run(self, definition)
    return {**result, **email_outputs(self, definition, result)}


def email_task() -> Task | None:
    """The email queue's send_email task when the email area is installed, else None."""
    if importlib.util.find_spec(EMAIL_TASK_MODULE) is None:
        return None
    return getattr(importlib.import_module(EMAIL_TASK_MODULE), "send_email", None)


def email_outputs(task: JobTask, definition: dict[str, Any], result: dict[str, Any]) -> dict:
    """Send this run's outputs to the schedule's recipients through the email queue."""
    send = email_task()
    if send is None:
        return {
            "emailed": False,
            "email_note": "Email is not set up on this platform, so the "
            "report is kept with this job only.",
        }
    if not definition["recipients"]:
        return {"emailed": False, "email_note": "The schedule has no recipients."}
    storage.publish_outputs(task.job_id)  # the email job reads them from the store
    attachments = storage.list_outputs(task.job_id)
    child = send.apply_async(
        kwargs={
            "to": definition["recipients"],
            "subject": recurring.email_subject(definition, dt.datetime.now(dt.UTC)),
            "text": recurring.email_text(definition, result, attachments),
            "attachments": attachments,
            # A redelivered run must not email the same report twice.
            "idempotency_key": f"scheduled-report-{task.job_id}",
        }
    )
    return {"emailed": True, "email_job": child.id}
