"""Each report a reports-queue job builds, from its inputs to its written outputs and summary.

A build reads its data, analyses it and writes every chosen format to the job's folder; its
result holds only small figures, never the data. What a build needs of the job running it
(files, progress, who asked, the job history, an AI service) comes through `ReportJob`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from app.errors import JobError, PermanentError
from app.filetypes import sniff_file
from app.reports import exports, performance, recurring, summary
from app.reports.analytics import Analysis, AnalyticsOptions
from app.reports.analytics_report import analytics_report
from app.reports.data import load_table
from app.reports.history import JobHistory, jobs_between, period
from app.reports.model import ExecutiveSummary, Report
from app.reports.render import REPORT_FORMATS, check_formats, write_report
from app.settings import get_settings

if TYPE_CHECKING:
    from app.ai.service import AIService

MAX_INLINE_RECORDS_BYTES = 2 * 1024 * 1024


class ReportJob(Protocol):
    """What a build uses of the job running it (app.tasks.report_tasks.ReportTask)."""

    @property
    def job_id(self) -> str: ...

    @property
    def owner(self) -> str: ...

    @property
    def by_admin(self) -> bool: ...

    def progress(self, current: int, total: int, message: str = "") -> None: ...

    def input_path(self, ref: dict | str) -> Path: ...

    def output_path(self, name: str) -> Path: ...

    def job_history(self) -> JobHistory: ...

    def ai_service(self, provider: str | None, model: str | None) -> AIService | None: ...


class Steps:
    """Progress over a fixed number of steps, so every stage moves the same bar."""

    def __init__(self, job: ReportJob, total: int) -> None:
        self.job, self.total, self.done = job, total, 0

    def next(self, message: str) -> None:
        """Report the step about to start."""
        self.job.progress(self.done, self.total, message)
        self.done += 1

    def writer(self) -> Callable[[int, int, str], None]:
        """A progress callback for write_report that continues this bar."""
        base = self.done

        def report(current: int, _total: int, message: str) -> None:
            self.job.progress(min(base + current, self.total), self.total, message)

        return report


# data in ---------------------------------------------------------------------------------


def load_data(
    job: ReportJob, files: list[dict] | None, sheet: str | int | None = None
) -> tuple[pd.DataFrame, str]:
    """The table in the first file given (an upload or another job's output) and its name."""
    if not files:
        raise PermanentError(
            "Choose the data: upload a CSV, XLSX or JSON file, or pick the "
            "output of an earlier job."
        )
    path = job.input_path(files[0])
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


def analytics(
    job: ReportJob,
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
    steps = Steps(job, 3 + len(chosen))
    steps.next("Reading the data")
    frame, name = load_data(job, files, sheet)
    steps.next(f"Analysing {len(frame):,} rows")
    options = _options(title, group_by, value_column, date_column, top_n)
    report, analysis = analytics_report(frame, options, source_name=name)
    steps.next("Writing the executive summary" if with_summary else "Drawing the charts")
    if with_summary:
        report.summary = executive_summary(job, report, analysis, provider, model)
    stem = "summary-report" if with_summary else "report"
    written = write_report(report, chosen, job.output_path, stem=stem, progress=steps.writer())
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
    job: ReportJob, report: Report, analysis: Analysis, provider: str | None, model: str | None
) -> ExecutiveSummary:
    """From the AI provider when one is configured, else from the offline analyser."""
    if provider == "offline" or not get_settings().ai_provider_configured:
        return summary.offline_summary(analysis)
    service = job.ai_service(provider, model)
    if service is None or service.provider is None:
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


def summary_report(job: ReportJob, **params: Any) -> dict[str, Any]:
    """The analytics report with an executive summary labelled by who wrote it."""
    return analytics(job, with_summary=True, **params)


# exports ---------------------------------------------------------------------------------


def export(
    job: ReportJob,
    *,
    files: list[dict] | None = None,
    records: list[dict] | None = None,
    formats: list[str] | tuple[str, ...] = ("csv",),
    sheet: str | int | None = None,
) -> dict[str, Any]:
    """Records (inline, or read from a file) written to each chosen format as export.<fmt>."""
    chosen = check_formats(formats, exports.EXPORT_FORMATS)
    steps = Steps(job, 1 + len(chosen))
    steps.next("Reading the records")
    if records is None:
        frame, _name = load_data(job, files, sheet)
        records = exports.frame_records(frame)
    elif len(json.dumps(records, default=str)) > MAX_INLINE_RECORDS_BYTES:
        raise PermanentError("That is too much data to send inline; upload it as a file instead.")
    written = {}
    for fmt in chosen:
        steps.next(f"Writing {fmt.upper()}")
        written[fmt] = exports.export_records(records, fmt, job.output_path(f"export.{fmt}"))
    job.progress(steps.total, steps.total, "Exported")
    return {
        "rows": len(records),
        "columns": exports.columns_of(records),
        "outputs": {fmt: path.name for fmt, path in written.items()},
    }


# task performance --------------------------------------------------------------------------


def task_performance(
    job: ReportJob,
    *,
    start: str | float | None = None,
    end: str | float | None = None,
    days: float | None = 7,
    kinds: list[str] | None = None,
    queues: list[str] | None = None,
    title: str = "Task performance",
    formats: list[str] | tuple[str, ...] = REPORT_FORMATS,
) -> dict[str, Any]:
    """The task-performance report over a period: the owner's jobs, everyone's for an admin."""
    chosen = check_formats(formats)
    steps = Steps(job, 2 + len(chosen))
    begin, finish = period(start, end, days)
    steps.next("Reading job records")
    jobs = jobs_between(
        job.job_history(), begin, finish, kinds=kinds, queues=queues, exclude=job.job_id,
        owner=None if job.by_admin else job.owner,
    )
    steps.next(f"Analysing {len(jobs):,} jobs")
    report, numbers = performance.performance_report(
        jobs, begin, finish, title=(title or "Task performance")[:200]
    )
    written = write_report(
        report, chosen, job.output_path, stem="task-performance", progress=steps.writer()
    )
    return _result(
        report, written, start=begin.isoformat(), end=finish.isoformat(), numbers=numbers
    )


# recurring reports ---------------------------------------------------------------------------

BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "analytics": analytics,
    "summary": summary_report,
    "task_performance": task_performance,
    "export": export,
}


def check_params(report: str, params: dict[str, Any]) -> None:
    """A PermanentError for an option the report does not have or a format it cannot write."""
    target = analytics if report in ("analytics", "summary") else BUILDERS[report]
    allowed = set(inspect.signature(target).parameters) - {"job", "with_summary"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise PermanentError(f"The {report} report has no option {', '.join(unknown)}.")
    formats = exports.EXPORT_FORMATS if report == "export" else REPORT_FORMATS
    check_formats(params.get("formats") or formats, formats)


def schedule_params(
    job: ReportJob, report: str, params: dict | None, files: list[dict] | None, schedule_id: str
) -> dict[str, Any]:
    """The checked params a schedule stores; a data report's file is copied for its runs."""
    recurring.check_kind(report)
    params = dict(params or {})
    params.pop("files", None)
    check_params(report, params)
    if report in recurring.DATA_REPORTS:
        if not files:
            raise PermanentError("A recurring data report needs a data file to report on.")
        job.input_path(files[0])  # the data must be the user's own upload or output
        params["files"] = [recurring.keep_data_file(schedule_id, files[0])]
    return params


def scheduled_run(job: ReportJob, definition: dict[str, Any]) -> dict[str, Any]:
    """One run of a recurring report: the report its definition describes."""
    result = BUILDERS[definition["report"]](job, **recurring.run_params(definition))
    return {**result, "schedule_id": definition["id"]}
