"""The task-performance report: how jobs fared over a period, from their registry records.

Records arrive as plain dicts (the registry's shape); nothing here reads Redis. Queue wait is
started_at - submitted_at, run time finished_at - started_at; percentiles interpolate linearly.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.reports.model import Chart, DataSheet, Report, Section, Table

FINISHED = ("SUCCESS", "FAILURE")
_ERROR_CHARS = 200
_JOB_COLUMNS = [
    "id",
    "kind",
    "queue",
    "state",
    "owner",
    "submitted",
    "started",
    "finished",
    "wait_s",
    "run_s",
    "retries",
    "error",
]


@dataclass
class Timing:
    """A job's queue wait and run time in seconds, None where it has not got that far."""

    wait: float | None
    run: float | None


def timing(job: dict[str, Any]) -> Timing:
    submitted, started, finished = (
        job.get("submitted_at"),
        job.get("started_at"),
        job.get("finished_at"),
    )
    wait = started - submitted if started and submitted else None
    run = finished - started if finished and started else None
    return Timing(wait, run)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, None for no values."""
    data = [v for v in values if v is not None]
    return float(np.percentile(data, q)) if data else None


def success_rate(states: Iterable[str]) -> float | None:
    """Succeeded over finished (succeeded or failed); cancelled and running jobs are left out."""
    counts = Counter(states)
    finished = counts["SUCCESS"] + counts["FAILURE"]
    return counts["SUCCESS"] / finished if finished else None


def summarize_jobs(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline numbers for a set of jobs; small and JSON-safe, fit for a task result."""
    timings = [timing(j) for j in jobs]
    return {
        "jobs": len(jobs),
        "by_state": dict(Counter(j.get("state") for j in jobs)),
        "by_kind": dict(Counter(j.get("kind") for j in jobs)),
        "by_queue": dict(Counter(j.get("queue") for j in jobs)),
        "success_rate": success_rate(j.get("state") for j in jobs),
        "retries": sum(int(j.get("retries") or 0) for j in jobs),
        "retried_jobs": sum(1 for j in jobs if (j.get("retries") or 0) > 0),
        "resubmitted_jobs": sum(1 for j in jobs if j.get("retry_of")),
        "wait_p50": percentile((t.wait for t in timings), 50),
        "wait_p95": percentile((t.wait for t in timings), 95),
        "run_p50": percentile((t.run for t in timings), 50),
        "run_p95": percentile((t.run for t in timings), 95),
    }


def performance_report(
    jobs: list[dict[str, Any]],
    start: dt.datetime,
    end: dt.datetime,
    *,
    title: str = "Task performance",
    slowest: int = 10,
) -> tuple[Report, dict[str, Any]]:
    """The report for `jobs` submitted between `start` and `end`, and its headline numbers."""
    numbers = summarize_jobs(jobs)
    report = Report(
        title=title,
        subtitle=f"Jobs submitted {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        facts=_facts(numbers),
        sections=[
            _breakdown_section(jobs, "kind"),
            _breakdown_section(jobs, "queue"),
            _states_section(numbers),
            _timing_section(jobs),
            _slowest_section(jobs, slowest),
            _failures_section(jobs),
            _volume_section(jobs, start, end),
        ],
        data=DataSheet(_JOB_COLUMNS, len(jobs), lambda: (_job_row(j) for j in jobs), "Jobs"),
    )
    if not jobs:
        report.sections = [Section("No jobs", ["No jobs were submitted in this period."])]
    return report, numbers


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.3f} s"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _facts(numbers: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("Jobs", f"{numbers['jobs']:,}"),
        ("Success rate", _rate(numbers["success_rate"]) or "no finished jobs"),
        ("Retries", f"{numbers['retries']:,}"),
        (
            "Queue wait p50 / p95",
            f"{_seconds(numbers['wait_p50'])} / {_seconds(numbers['wait_p95'])}",
        ),
        ("Run time p50 / p95", f"{_seconds(numbers['run_p50'])} / {_seconds(numbers['run_p95'])}"),
        ("Failed", f"{numbers['by_state'].get('FAILURE', 0):,}"),
    ]


def _breakdown_section(jobs: list[dict[str, Any]], field: str) -> Section:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        groups[str(job.get(field) or "(none)")].append(job)
    columns = [
        field.title(),
        "Jobs",
        "Succeeded",
        "Failed",
        "Cancelled",
        "Success rate",
        "Retries",
        "Wait p50",
        "Wait p95",
        "Run p50",
        "Run p95",
    ]
    rows = [
        _breakdown_row(name, group)
        for name, group in sorted(groups.items(), key=lambda item: -len(item[1]))
    ]
    counts = Chart(
        "bar", f"Jobs per {field}", [r[0] for r in rows], [float(r[1]) for r in rows], field, "jobs"
    )
    p95 = Chart(
        "bar",
        f"Run time p95 per {field} (seconds)",
        [r[0] for r in rows],
        [percentile((timing(j).run for j in groups[r[0]]), 95) or 0.0 for r in rows],
        field,
        "seconds",
    )
    return Section(f"By {field}", [], [Table(f"Jobs per {field}", columns, rows)], [counts, p95])


def _breakdown_row(name: str, group: list[dict[str, Any]]) -> list[Any]:
    states = Counter(j.get("state") for j in group)
    timings = [timing(j) for j in group]
    return [
        name,
        len(group),
        states["SUCCESS"],
        states["FAILURE"],
        states["REVOKED"],
        _rate(success_rate(j.get("state") for j in group)),
        sum(int(j.get("retries") or 0) for j in group),
        _seconds(percentile((t.wait for t in timings), 50)),
        _seconds(percentile((t.wait for t in timings), 95)),
        _seconds(percentile((t.run for t in timings), 50)),
        _seconds(percentile((t.run for t in timings), 95)),
    ]


def _states_section(numbers: dict[str, Any]) -> Section:
    rows = [
        [state, count]
        for state, count in sorted(numbers["by_state"].items(), key=lambda item: -item[1])
    ]
    paragraphs = [
        "The success rate counts jobs that succeeded among those that finished (succeeded or "
        "failed); cancelled and unfinished jobs are not part of it.",
        f"{numbers['retried_jobs']:,} job(s) were retried automatically, {numbers['retries']:,} "
        f"retries in all; {numbers['resubmitted_jobs']:,} job(s) were resubmitted by hand.",
    ]
    return Section(
        "States and retries", paragraphs, [Table("Jobs per state", ["State", "Jobs"], rows)]
    )


def _timing_section(jobs: list[dict[str, Any]]) -> Section:
    runs = [t.run for t in map(timing, jobs) if t.run is not None]
    charts = []
    if runs:
        counts, edges = np.histogram(runs, bins=min(20, max(1, len(runs))))
        labels = [f"{lo:.2f}–{hi:.2f}" for lo, hi in itertools.pairwise(edges)]
        charts.append(
            Chart(
                "histogram",
                "Run time distribution",
                labels,
                [float(c) for c in counts],
                "seconds",
                "jobs",
            )
        )
    return Section(
        "Timing",
        [
            "Queue wait is the time from submission to a worker starting the "
            "job; run time is from start to finish."
        ],
        [],
        charts,
    )


def _slowest_section(jobs: list[dict[str, Any]], limit: int) -> Section:
    timed = [(timing(j).run, j) for j in jobs if timing(j).run is not None]
    timed.sort(key=lambda item: -item[0])
    rows = [
        [
            j.get("id"),
            j.get("kind"),
            j.get("queue"),
            j.get("state"),
            _seconds(run),
            _when(j.get("submitted_at")),
        ]
        for run, j in timed[:limit]
    ]
    return Section(
        "Slowest jobs",
        [],
        [
            Table(
                f"The {len(rows)} slowest jobs",
                ["Job", "Kind", "Queue", "State", "Run time", "Submitted"],
                rows,
            )
        ],
    )


def _failures_section(jobs: list[dict[str, Any]]) -> Section:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        if job.get("state") == "FAILURE":
            groups[_error_key(job.get("error"))].append(job)
    rows = []
    for error, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        latest = max(group, key=lambda j: j.get("submitted_at") or 0)
        kinds = ", ".join(sorted({str(j.get("kind")) for j in group}))
        rows.append([error, len(group), kinds, _when(latest.get("submitted_at")), latest["id"]])
    paragraphs = [] if rows else ["No job failed in this period."]
    return Section(
        "Failures by error",
        paragraphs,
        [
            Table(
                "Failures grouped by error",
                ["Error", "Jobs", "Kinds", "Latest", "Latest job"],
                rows,
            )
        ],
    )


def _error_key(error: str | None) -> str:
    text = (error or "No error message").strip().splitlines()[0]
    return text[:_ERROR_CHARS]


def _volume_section(jobs: list[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> Section:
    hours = (end - start).total_seconds() / 3600
    unit, fmt = ("hour", "%Y-%m-%d %H:00") if hours <= 72 else ("day", "%Y-%m-%d")
    counts = Counter(_utc(j["submitted_at"]).strftime(fmt) for j in jobs if j.get("submitted_at"))
    keys = sorted(counts)
    chart = Chart(
        "line", f"Jobs submitted per {unit}", keys, [float(counts[k]) for k in keys], unit, "jobs"
    )
    return Section(f"Volume per {unit}", [], [], [chart] if keys else [])


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _when(epoch: float | None) -> str:
    return _utc(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else ""


def _job_row(job: dict[str, Any]) -> list[Any]:
    t = timing(job)
    return [
        job.get("id"),
        job.get("kind"),
        job.get("queue"),
        job.get("state"),
        job.get("owner"),
        _when(job.get("submitted_at")),
        _when(job.get("started_at")),
        _when(job.get("finished_at")),
        t.wait,
        t.run,
        job.get("retries") or 0,
        _error_key(job["error"]) if job.get("error") else None,
    ]
