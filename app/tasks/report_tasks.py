"""Celery adapters for the reports queue: unpack arguments, call app.reports, write outputs.

Every output goes to the job's folder; results hold only small summaries, never the data.
The AI and email queues are used when they are installed and configured; without them the
executive summary comes from the offline analyser and scheduled reports stay in their job.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from celery import Task

from app import report_schedules, storage
from app.connection import get_registry
from app.errors import JobError, PermanentError
from app.filetypes import sniff_file
from app.reports import exports, performance, summary
from app.reports.analytics import Analysis, AnalyticsOptions
from app.reports.analytics_report import analytics_report
from app.reports.data import load_table
from app.reports.model import ExecutiveSummary, Report
from app.reports.render import REPORT_FORMATS, check_formats, write_report
from app.settings import get_settings
from app.tasks.base import JobTask
from config.celery_config import celery_app

REPORT_TASK = {"bind": True, "base": JobTask, "max_retries": 2}
MAX_INLINE_RECORDS_BYTES = 2 * 1024 * 1024
REGISTRY_BATCH = 500
JOB_FIELDS = (
    "id",
    "kind",
    "queue",
    "state",
    "owner",
    "submitted_at",
    "started_at",
    "finished_at",
    "retries",
    "error",
    "retry_of",
)
EMAIL_TASK_MODULE = "app.tasks.email_tasks"


class Steps:
    """Progress over a fixed number of steps, so every stage moves the same bar."""

    def __init__(self, task: JobTask, total: int) -> None:
        self.task, self.total, self.done = task, total, 0

    def next(self, message: str) -> None:
        self.task.progress(self.done, self.total, message)
        self.done += 1

    def writer(self) -> Callable[[int, int, str], None]:
        """A progress callback for write_report that continues this bar."""
        base = self.done

        def report(current: int, _total: int, message: str) -> None:
            self.task.progress(min(base + current, self.total), self.total, message)

        return report


# data in ---------------------------------------------------------------------------------


def load_data(
    task: JobTask, files: list[dict] | None, sheet: str | int | None = None
) -> tuple[pd.DataFrame, str]:
    """The table in the first file given (an upload or another job's output) and its name."""
    if not files:
        raise PermanentError(
            "Choose the data: upload a CSV, XLSX or JSON file, or pick the "
            "output of an earlier job."
        )
    path = task.input_path(files[0])
    frame = load_table(path, sniff_file(path), sheet=sheet if sheet not in (None, "") else 0)
    if frame.shape[1] == 0:
        raise PermanentError(f"{files[0].get('name') or path.name} holds no columns of data.")
    return frame, files[0].get("name") or path.name


def _options(
    title: str, group_by: str | None, value_column: str | None, date_column: str | None, top_n: int
) -> AnalyticsOptions:
    return AnalyticsOptions(
        title=(title or "Data report").strip()[:200],
        group_by=group_by or None,
        value_column=value_column or None,
        date_column=date_column or None,
        top_n=max(1, min(int(top_n), 100)),
    )


# results ---------------------------------------------------------------------------------


def _result(report: Report, written: dict[str, Any], **extra: Any) -> dict[str, Any]:
    result = {
        "title": report.title,
        "facts": dict(report.facts),
        "outputs": {fmt: path.name for fmt, path in written.items()},
        "rows": report.data.row_count if report.data else 0,
        **extra,
    }
    if report.summary:
        result["summary"] = {
            "source": report.summary.source,
            "model": report.summary.model,
            "text": report.summary.text[:4000],
        }
    return result


# analytics and summary ---------------------------------------------------------------------


def build_analytics(
    task: JobTask,
    *,
    files: list[dict] | None = None,
    title: str = "Data report",
    group_by: str | None = None,
    value_column: str | None = None,
    date_column: str | None = None,
    top_n: int = 10,
    formats: list[str] | tuple[str, ...] = REPORT_FORMATS,
    sheet: str | int | None = None,
    with_summary: bool = False,
    provider: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Load, analyse, optionally summarise, and write the report in every chosen format."""
    chosen = check_formats(formats)
    steps = Steps(task, 3 + len(chosen))
    steps.next("Reading the data")
    frame, name = load_data(task, files, sheet)
    steps.next(f"Analysing {len(frame):,} rows")
    options = _options(title, group_by, value_column, date_column, top_n)
    report, analysis = analytics_report(frame, options, source_name=name)
    steps.next("Writing the executive summary" if with_summary else "Drawing the charts")
    if with_summary:
        report.summary = executive_summary(task, report, analysis, provider, model)
    stem = "summary-report" if with_summary else "report"
    written = write_report(report, chosen, task.output_path, stem=stem, progress=steps.writer())
    return _result(
        report,
        written,
        columns=len(frame.columns),
        source=name,
        group_by=analysis.group_by,
        value_column=analysis.value_column,
        date_column=analysis.date_column,
    )


def executive_summary(
    task: JobTask, report: Report, analysis: Analysis, provider: str | None, model: str | None
) -> ExecutiveSummary:
    """From the AI provider when one is configured, else from the offline analyser."""
    if provider == "offline" or not get_settings().ai_provider_configured:
        return summary.offline_summary(analysis)
    if importlib.util.find_spec("app.tasks.ai_tasks") is None:
        return summary.offline_summary(analysis)
    from app.tasks import ai_tasks

    service = ai_tasks.service(task, provider, model)
    if service.provider is None:
        return summary.offline_summary(analysis)
    try:
        answer = service.complete(summary.ai_prompt(report, analysis), summary.AI_SYSTEM)
    except JobError as exc:
        fallback = summary.offline_summary(analysis)
        fallback.source += f"; the AI provider could not be used: {exc}"
        return fallback
    return ExecutiveSummary(
        answer.text.strip(), f"AI ({answer.usage.provider})", answer.usage.model
    )


@celery_app.task(**REPORT_TASK)
def generate_analytics_report(
    self: JobTask,
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
    return build_analytics(
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
    self: JobTask,
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
    return build_analytics(
        self,
        files=files,
        title=title,
        group_by=group_by,
        value_column=value_column,
        date_column=date_column,
        top_n=top_n,
        formats=formats or REPORT_FORMATS,
        sheet=sheet,
        with_summary=True,
        provider=provider,
        model=model,
    )


# exports ---------------------------------------------------------------------------------


def build_export(
    task: JobTask,
    *,
    files: list[dict] | None = None,
    records: list[dict] | None = None,
    formats: list[str] | tuple[str, ...] = ("csv",),
    sheet: str | int | None = None,
) -> dict[str, Any]:
    """Records (inline, or read from a file) written to each chosen format as export.<fmt>."""
    chosen = check_formats(formats, exports.EXPORT_FORMATS)
    steps = Steps(task, 1 + len(chosen))
    steps.next("Reading the records")
    if records is None:
        frame, _name = load_data(task, files, sheet)
        records = exports.frame_records(frame)
    elif len(json.dumps(records, default=str)) > MAX_INLINE_RECORDS_BYTES:
        raise PermanentError("That is too much data to send inline; upload it as a file instead.")
    written = {}
    for fmt in chosen:
        steps.next(f"Writing {fmt.upper()}")
        written[fmt] = exports.export_records(records, fmt, task.output_path(f"export.{fmt}"))
    task.progress(steps.total, steps.total, "Exported")
    return {
        "rows": len(records),
        "columns": exports.columns_of(records),
        "outputs": {fmt: path.name for fmt, path in written.items()},
    }


@celery_app.task(**REPORT_TASK)
def export_data(
    self: JobTask,
    files: list[dict] | None = None,
    records: list[dict] | None = None,
    formats: list[str] | None = None,
    sheet: str | int | None = None,
) -> dict:
    """Export records to CSV, XLSX, JSON or XML; output names are generated, never the user's."""
    return build_export(self, files=files, records=records, formats=formats or ["csv"], sheet=sheet)


# task performance --------------------------------------------------------------------------


def period(
    start: str | float | None, end: str | float | None, days: float | None
) -> tuple[dt.datetime, dt.datetime]:
    """The UTC period to report on: explicit bounds, or the last `days` days up to now."""
    finish = _moment(end) if end not in (None, "") else dt.datetime.now(dt.UTC)
    begin = (
        _moment(start) if start not in (None, "") else finish - dt.timedelta(days=float(days or 7))
    )
    if begin >= finish:
        raise PermanentError("The report's start must be before its end.")
    return begin, finish


def _moment(value: str | float) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentError(f"{value!r} is not a date or a date and time.") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def jobs_between(
    begin: dt.datetime,
    end: dt.datetime,
    *,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    exclude: str | None = None,
    owner: str | None = None,
) -> list[dict]:
    """Job records submitted in the period, trimmed to the fields the report needs.

    With `owner`, only that person's jobs: a report shows everyone's only to an admin.
    """
    registry = get_registry()
    ids = [i for i in registry.ids_between(begin.timestamp(), end.timestamp()) if i != exclude]
    jobs = []
    for start in range(0, len(ids), REGISTRY_BATCH):
        for record in registry.get_many(ids[start : start + REGISTRY_BATCH]):
            if (
                (kinds and record.get("kind") not in kinds)
                or (queues and record.get("queue") not in queues)
                or (owner is not None and record.get("owner") != owner)
            ):
                continue
            jobs.append({name: record.get(name) for name in JOB_FIELDS})
    return jobs


def build_performance(
    task: JobTask,
    *,
    start: str | float | None = None,
    end: str | float | None = None,
    days: float | None = 7,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    title: str = "Task performance",
    formats: list[str] | tuple[str, ...] = REPORT_FORMATS,
) -> dict[str, Any]:
    """The task-performance report over a period, from the job registry."""
    chosen = check_formats(formats)
    steps = Steps(task, 2 + len(chosen))
    begin, finish = period(start, end, days)
    steps.next("Reading job records")
    jobs = jobs_between(
        begin, finish, kinds=kinds, queues=queues, exclude=task.job_id,
        owner=None if task.by_admin else task.owner,
    )
    steps.next(f"Analysing {len(jobs):,} jobs")
    report, numbers = performance.performance_report(
        jobs, begin, finish, title=(title or "Task performance")[:200]
    )
    written = write_report(
        report, chosen, task.output_path, stem="task-performance", progress=steps.writer()
    )
    return _result(
        report, written, start=begin.isoformat(), end=finish.isoformat(), numbers=numbers
    )


@celery_app.task(**REPORT_TASK)
def generate_task_performance_report(
    self: JobTask,
    start: str | float | None = None,
    end: str | float | None = None,
    days: float | None = 7,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    title: str = "Task performance",
    formats: list[str] | None = None,
) -> dict:
    """Jobs per kind, queue and state, success rate, retries, waits and run times, failures."""
    return build_performance(
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

BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "analytics": build_analytics,
    "summary": lambda task, **params: build_analytics(task, with_summary=True, **params),
    "task_performance": build_performance,
    "export": build_export,
}
_DATA_REPORTS = ("analytics", "summary", "export")


def _check_params(report: str, params: dict[str, Any]) -> None:
    target = build_analytics if report in ("analytics", "summary") else BUILDERS[report]
    allowed = set(inspect.signature(target).parameters) - {"task", "with_summary"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise PermanentError(f"The {report} report has no option {', '.join(unknown)}.")
    formats = exports.EXPORT_FORMATS if report == "export" else REPORT_FORMATS
    check_formats(params.get("formats") or formats, formats)


def email_task() -> Task | None:
    """The email queue's send_email task when the email area is installed, else None."""
    if importlib.util.find_spec(EMAIL_TASK_MODULE) is None:
        return None
    return getattr(importlib.import_module(EMAIL_TASK_MODULE), "send_email", None)


@celery_app.task(**REPORT_TASK)
def schedule_recurring_report(
    self: JobTask,
    report: str,
    cron: str,
    recipients: list[str] | str | None = None,
    name: str = "Recurring report",
    params: dict | None = None,
    files: list[dict] | None = None,
) -> dict:
    """Store a recurring report that beat runs on a cron schedule (UTC) and emails to recipients."""
    self.progress(0, 2, "Checking the schedule")
    if report not in BUILDERS:
        raise PermanentError(f"Unknown report '{report}'; choose from {', '.join(BUILDERS)}.")
    params = dict(params or {})
    params.pop("files", None)
    _check_params(report, params)
    schedule_id = report_schedules.new_id()
    if report in _DATA_REPORTS:
        if not files:
            raise PermanentError("A recurring data report needs a data file to report on.")
        self.input_path(files[0])  # the data must be the user's own upload or output
        params["files"] = [report_schedules.keep_data_file(schedule_id, files[0])]
    saved = report_schedules.create(
        schedule_id=schedule_id,
        name=name,
        report=report,
        params=params,
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
def run_scheduled_report(self: JobTask, schedule_id: str) -> dict:
    """One run of a recurring report, started by beat: build it, then email the outputs."""
    definition = report_schedules.get(schedule_id, owner=self.owner)
    if definition is None:
        raise PermanentError("This recurring report was deleted before it ran.")
    report_schedules.record_run(schedule_id, self.job_id)
    params = dict(definition["params"])
    if definition["report"] in ("analytics", "summary", "task_performance"):
        params.setdefault("title", definition["name"])
    result = BUILDERS[definition["report"]](self, **params)
    result["schedule_id"] = schedule_id
    result.update(email_outputs(self, definition, result))
    return result


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
    attachments = storage.list_outputs(task.job_id)
    child = send.apply_async(
        kwargs={
            "to": definition["recipients"],
            "subject": f"{definition['name']} — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "text": _email_text(definition, result, attachments),
            "attachments": attachments,
            # A redelivered run must not email the same report twice.
            "idempotency_key": f"scheduled-report-{task.job_id}",
        }
    )
    return {"emailed": True, "email_job": child.id}


def _email_text(definition: dict[str, Any], result: dict[str, Any], files: list[dict]) -> str:
    lines = [
        f"{definition['name']}",
        "",
        *(f"{k}: {v}" for k, v in result.get("facts", {}).items()),
    ]
    if result.get("summary"):
        lines += [
            "",
            f"Executive summary ({result['summary']['source']}):",
            result["summary"]["text"],
        ]
    lines += [
        "",
        "Attached: " + ", ".join(f["name"] for f in files),
        "",
        f"Schedule: {definition['cron']} (UTC). Pause or delete it on the Reports page.",
    ]
    return "\n".join(lines)
