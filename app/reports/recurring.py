"""Recurring reports, the part that needs neither beat nor Redis: what a schedule's definition
holds and how it is checked, where it keeps its data, and the email each run sends.

Cron expressions are five fields in UTC; app.schedules turns them into beat's schedule.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app import storage
from app.errors import PermanentError

REPORT_KINDS = ("analytics", "summary", "task_performance", "export")
# Reports built from a data file, which the schedule keeps a copy of.
DATA_REPORTS = ("analytics", "summary", "export")
# Reports whose title a run takes from the schedule's name, unless the params set one.
TITLED_REPORTS = ("analytics", "summary", "task_performance")
MAX_RECIPIENTS = 50


def new_id() -> str:
    """A fresh schedule id, also usable as a storage folder name."""
    return uuid.uuid4().hex[:12]


def check_kind(report: str) -> None:
    """A PermanentError naming the choices when `report` is not a kind of recurring report."""
    if report not in REPORT_KINDS:
        raise PermanentError(f"Unknown report '{report}'; choose from {', '.join(REPORT_KINDS)}.")


def cron_fields(expression: str) -> str:
    """The five cron fields (minute hour day-of-month month day-of-week) in one normal form."""
    fields = (expression or "").split()
    if len(fields) != 5:
        raise PermanentError(
            "A schedule needs five cron fields: minute hour day-of-month month day-of-week, "
            "for example '0 8 * * 1' for Mondays at 08:00 UTC."
        )
    return " ".join(fields)


def check_recipients(recipients: list[str] | str) -> list[str]:
    """Normalised addresses; a PermanentError naming the first one that is not an address."""
    items = recipients.replace(";", ",").split(",") if isinstance(recipients, str) else recipients
    cleaned = [r.strip() for r in items if r and r.strip()]
    if len(cleaned) > MAX_RECIPIENTS:
        raise PermanentError(f"A schedule can email at most {MAX_RECIPIENTS} recipients.")
    result = []
    for address in cleaned:
        try:
            result.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise PermanentError(f"{address} is not an email address: {exc}") from None
    return result


def definition(
    *,
    schedule_id: str,
    name: str,
    report: str,
    params: dict[str, Any],
    cron: str,
    recipients: list[str] | str,
    owner: str,
    by_admin: bool,
) -> dict[str, Any]:
    """A schedule's stored definition, its name, cron and recipients checked and normalised."""
    return {
        "id": schedule_id,
        "name": (name or "Recurring report").strip()[:120],
        "report": report,
        "params": params,
        "cron": " ".join(cron.split()),
        "recipients": check_recipients(recipients),
        "owner": owner,
        "by_admin": by_admin,
        "created_at": time.time(),
    }


def run_params(definition: dict[str, Any]) -> dict[str, Any]:
    """The parameters one run builds its report with."""
    params = dict(definition["params"])
    if definition["report"] in TITLED_REPORTS:
        params.setdefault("title", definition["name"])
    return params


def data_folder(schedule_id: str) -> str:
    """Where a schedule keeps its copy of the data it reports on (a storage key prefix)."""
    return f"schedules/{storage.check_job_id(schedule_id)}"


def keep_data_file(schedule_id: str, ref: dict[str, Any]) -> dict[str, Any]:
    """Copy a data file to the schedule's own folder, so job clean-up never takes it away."""
    name = ref.get("name") or storage.key_of(ref).rsplit("/", 1)[-1]
    return {**ref, "path": storage.keep_copy(ref, data_folder(schedule_id), name), "job_id": ""}


def remove_data(schedule_id: str) -> None:
    """Remove the schedule's kept data file, if it has one."""
    storage.delete_folder(data_folder(schedule_id))


def email_subject(definition: dict[str, Any], now: datetime) -> str:
    """The subject of one run's email: the schedule's name and when it ran (UTC)."""
    return f"{definition['name']} — {now:%Y-%m-%d %H:%M} UTC"


def email_text(definition: dict[str, Any], result: dict[str, Any], files: list[dict]) -> str:
    """The body of one run's email: the key figures, the summary, and what is attached."""
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
