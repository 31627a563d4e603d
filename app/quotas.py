"""Per-person quotas: jobs per minute, emails per day, recipients per bulk send, AI tokens per
day, the shortest recurring-report interval and storage.

Each quota's default is a setting; an admin can override it for one person (a Redis hash per
person). Going over a quota raises `QuotaExceeded` with a sentence for the person and, where
waiting helps, `retry_after` seconds, so the HTTP API can answer 429 with Retry-After.

Who is subject: every person, admins included (an admin who needs more sets an override for
themselves, which the audit log records); the platform's own work (SYSTEM) is never limited,
and admins may schedule reports at any interval.

Storage usage is a per-owner counter kept right by settling each job: a job record remembers
the bytes it was last counted with (`stored_bytes`), and `settle` measures the job's files and
adds only the difference. Settling is idempotent, so calling it again on any change (upload,
finish, delete, archive, retention) can never count a file twice, and a full recount in
maintenance repairs anything a crash left behind.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from celery.schedules import crontab

from app import audit, storage
from app.ai import store as ai_store
from app.auth import SYSTEM_OWNER, NotAllowed, User
from app.connection import get_redis, get_registry
from app.errors import PermanentError
from app.settings import get_settings

MINUTE = 60
DAY_MINUTES = 1440


class QuotaExceeded(ValueError):
    """A quota refused the request; the message is a sentence for the person."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Quota:
    """One quota: its setting (the default) and how the Admin page names it."""

    name: str
    label: str
    unit: str


QUOTAS: dict[str, Quota] = {
    q.name: q
    for q in (
        Quota("jobs_per_minute", "Jobs per minute", "jobs"),
        Quota("emails_per_day", "Emails per day", "emails"),
        Quota("bulk_max_recipients", "Recipients per bulk send", "recipients"),
        Quota("ai_tokens_per_day", "AI tokens per day", "tokens"),
        Quota("report_min_interval_minutes", "Shortest report interval", "minutes"),
        Quota("storage_quota_mb", "Storage", "MB"),
    )
}


# sizes and times, for sentences ----------------------------------------------------------


def format_size(size: float) -> str:
    """A byte count as people read it: 512 bytes, 3.4 KB, 2.1 GB (binary units)."""
    if size < 1024:
        return f"{int(size)} byte{'s' if int(size) != 1 else ''}"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    text = f"{size:.1f}".removesuffix(".0")
    return f"{text} {unit}"


def format_wait(seconds: float) -> str:
    """A wait as people read it: 45 seconds, 12 minutes, 3 h 5 min."""
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60} min"


def _until_midnight_utc(now: float | None = None) -> float:
    moment = datetime.fromtimestamp(now or time.time(), UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - moment).total_seconds()


# limits and overrides --------------------------------------------------------------------


def _key(*parts: str) -> str:
    return ":".join((get_settings().registry_prefix, *parts))


def _check_name(name: str) -> Quota:
    if name not in QUOTAS:
        raise ValueError(f"There is no quota called {name}.")
    return QUOTAS[name]


def default(name: str) -> int:
    """The quota's setting: what everyone without an override gets."""
    _check_name(name)
    return int(getattr(get_settings(), name))


def overrides(owner: str) -> dict[str, int]:
    """The quotas an admin set for this person, by name."""
    raw = get_redis().hgetall(_key("quotas", owner))
    return {name: int(value) for name, value in raw.items() if name in QUOTAS}


def limit(owner: str, name: str) -> int:
    """The quota that holds for this person: their override, else the setting."""
    value = get_redis().hget(_key("quotas", owner), name)
    return int(value) if value else default(name)


def set_override(owner: str, name: str, value: int, *, by: User, client: str = "") -> None:
    """Give one person their own value of a quota; admins only, and audited."""
    quota = _check_name(name)
    if not by.is_admin:
        raise NotAllowed("Only an admin can change quotas.")
    if value < 1:
        raise ValueError(f"{quota.label} must be at least 1.")
    get_redis().hset(_key("quotas", owner), name, int(value))
    audit.record(by, "admin.quota.set", owner, f"{name}={int(value)}", client)


def clear_override(owner: str, name: str, *, by: User, client: str = "") -> None:
    """Put one person back on the setting's value of a quota; admins only, and audited."""
    _check_name(name)
    if not by.is_admin:
        raise NotAllowed("Only an admin can change quotas.")
    get_redis().hdel(_key("quotas", owner), name)
    audit.record(by, "admin.quota.clear", owner, name, client)


def known_users() -> list[str]:
    """Every person the registry has seen a job from, plus anyone with an override."""
    registry = get_registry()
    prefix = registry.index_key("owner", "")
    owners = {k.removeprefix(prefix) for k in get_redis().scan_iter(f"{prefix}*", count=500)}
    owners |= {k.removeprefix(_key("quotas", "")) for k in
               get_redis().scan_iter(_key("quotas", "*"), count=500)}
    owners.discard(SYSTEM_OWNER)
    return sorted(owners)


@contextmanager
def as_permanent() -> Iterator[None]:
    """Inside a task: a quota refusal fails the job at once with its sentence, never retried."""
    try:
        yield
    except QuotaExceeded as exc:
        raise PermanentError(str(exc)) from None


# jobs per minute -------------------------------------------------------------------------


def take_job_slot(owner: str, now: float | None = None, count: int = 1) -> None:
    """Count `count` submits in this minute's window, or refuse them all when they do not fit."""
    if owner == SYSTEM_OWNER:
        return
    now = now or time.time()
    key = _key("quota", "jobs", owner, str(int(now // MINUTE)))
    # The override, the count and its expiry in one round trip: this runs on every submit.
    with get_redis().pipeline() as pipe:
        pipe.hget(_key("quotas", owner), "jobs_per_minute")
        pipe.incrby(key, count)
        pipe.expire(key, 2 * MINUTE)
        override, taken, _ = pipe.execute()
    allowed = int(override) if override else default("jobs_per_minute")
    if taken > allowed:
        get_redis().decrby(key, count)  # a refused submit does not use up the window
        wait = MINUTE - now % MINUTE
        if count > 1:
            left = max(0, allowed - (taken - count))
            raise QuotaExceeded(
                f"You can submit {allowed} jobs a minute and have {left} left this minute, "
                f"so these {count} jobs were not submitted; try again in {format_wait(wait)} "
                "or submit fewer at once.",
                retry_after=wait if count <= allowed else None,
            )
        raise QuotaExceeded(
            f"You can submit {allowed} jobs a minute and have reached that; "
            f"try again in {format_wait(wait)}.",
            retry_after=wait,
        )


# emails ----------------------------------------------------------------------------------


def _emails_key(owner: str, day: date | None = None) -> str:
    return _key("quota", "emails", owner, (day or datetime.now(UTC).date()).isoformat())


def emails_today(owner: str) -> int:
    """Messages the person's jobs sent today (UTC)."""
    return int(get_redis().get(_emails_key(owner)) or 0)


def _emails_refusal(owner: str, wanted: int) -> QuotaExceeded:
    allowed = limit(owner, "emails_per_day")
    wait = _until_midnight_utc()
    return QuotaExceeded(
        f"You can send {allowed:,} emails a day and have sent {emails_today(owner):,} today, "
        f"so {wanted:,} more would be too many; the count starts again at midnight UTC "
        f"(in {format_wait(wait)}).",
        retry_after=wait,
    )


def check_emails(owner: str, wanted: int = 1) -> None:
    """Refuse, without counting, when `wanted` more emails would pass today's quota."""
    if owner != SYSTEM_OWNER and emails_today(owner) + wanted > limit(owner, "emails_per_day"):
        raise _emails_refusal(owner, wanted)


def take_email(owner: str) -> None:
    """Count one message about to be sent, or refuse it when today's quota is used up."""
    if owner == SYSTEM_OWNER:
        return
    key = _emails_key(owner)
    with get_redis().pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, 2 * 86400)
        count, _ = pipe.execute()
    if count > limit(owner, "emails_per_day"):
        get_redis().decr(key)
        raise _emails_refusal(owner, 1)


def give_back_email(owner: str) -> None:
    """A counted message was not sent after all."""
    if owner != SYSTEM_OWNER:
        get_redis().decr(_emails_key(owner))


def check_bulk_recipients(owner: str, count: int) -> None:
    """Refuse a bulk send to more recipients than the person may reach in one send."""
    allowed = limit(owner, "bulk_max_recipients")
    if owner != SYSTEM_OWNER and count > allowed:
        raise QuotaExceeded(
            f"This bulk send has {count:,} recipients; one bulk send may have at most "
            f"{allowed:,}. Split the list into smaller sends."
        )


# AI tokens -------------------------------------------------------------------------------


def check_ai_tokens(owner: str) -> None:
    """Refuse AI work once the person's jobs have used today's tokens."""
    if not owner or owner == SYSTEM_OWNER:
        return
    allowed = limit(owner, "ai_tokens_per_day")
    used = ai_store.tokens_today(owner)
    if used >= allowed:
        wait = _until_midnight_utc()
        raise QuotaExceeded(
            f"Your jobs have used {used:,} AI tokens today, your daily quota is {allowed:,}; "
            f"it starts again at midnight UTC (in {format_wait(wait)}).",
            retry_after=wait,
        )


class QuotaLimiter:
    """The shared AI limiter, with the owner's daily token quota checked before every call."""

    def __init__(self, inner: object, owner: str) -> None:
        self.inner = inner
        self.owner = owner

    def reserve(self, provider: str, tokens: int) -> object:
        with as_permanent():
            check_ai_tokens(self.owner)
        return self.inner.reserve(provider, tokens)  # type: ignore[attr-defined]

    def settle(self, reservation: object, tokens: int) -> None:
        self.inner.settle(reservation, tokens)  # type: ignore[attr-defined]


# recurring reports -----------------------------------------------------------------------


def shortest_gap_minutes(schedule: crontab, days: int = 366) -> int | None:
    """The shortest time between two consecutive firings of a cron schedule, in minutes.

    Every firing day repeats the same times (celery's crontab ANDs its day fields), so the
    gap is the smallest step within a day, or across midnight when two consecutive days fire.
    Scanning a year of days finds any two consecutive firing days. None: it never fires.
    """
    times = sorted(h * 60 + m for h in schedule.hour for m in schedule.minute)
    start = datetime.now(UTC).date()
    firing = [d for d in (start + timedelta(n) for n in range(days + 1)) if _fires_on(schedule, d)]
    if not times or not firing:
        return None
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if any((b - a).days == 1 for a, b in itertools.pairwise(firing)):
        gaps.append(times[0] + DAY_MINUTES - times[-1])
    if not gaps:  # one time a day, never on consecutive days: at least two days apart
        gaps.append(min((b - a).days for a, b in itertools.pairwise(firing)) * DAY_MINUTES
                    if len(firing) > 1 else days * DAY_MINUTES)
    return min(gaps)


def _fires_on(schedule: crontab, day: date) -> bool:
    return (
        day.month in schedule.month_of_year
        and day.day in schedule.day_of_month
        and day.isoweekday() % 7 in schedule.day_of_week  # celery: 0 is Sunday
    )


def check_report_interval(schedule: crontab, owner: str, by_admin: bool = False) -> None:
    """Refuse a recurring report that would fire more often than the person may schedule."""
    if by_admin or owner == SYSTEM_OWNER:
        return
    allowed = limit(owner, "report_min_interval_minutes")
    gap = shortest_gap_minutes(schedule)
    if gap is not None and gap < allowed:
        raise QuotaExceeded(
            f"This schedule would run a report {gap} minute{'s' if gap != 1 else ''} after the "
            f"one before; a recurring report may run at most every {allowed} minutes."
        )


def check_report_cron(expression: object, owner: str, by_admin: bool = False) -> None:
    """Like check_report_interval for cron text; text that does not parse is left to the job."""
    try:
        schedule = crontab.from_string(" ".join(str(expression or "").split()))
    except (ValueError, KeyError, IndexError):
        return
    check_report_interval(schedule, owner, by_admin)


# storage ---------------------------------------------------------------------------------

# Counts a job's files against its owner with the difference from what it was counted with,
# so settling twice, or concurrently with the same size, never counts anything twice.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner == '' then return 0 end
local old = tonumber(redis.call('HGET', KEYS[1], 'stored_bytes') or '0') or 0
local new = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'stored_bytes', new)
if new ~= old then redis.call('HINCRBY', KEYS[2], owner, new - old) end
return new - old
"""


def _usage_key() -> str:
    return _key("storage", "used")


def job_bytes(job_id: str, stored: int | None = None) -> int:
    """The bytes of a job's files: its folder, or once archived, its archive's members.

    `stored` is the folder's size when the caller has already listed the store.
    """
    if stored is None:
        stored = sum(blob.size for blob in storage.job_files(job_id))
    if stored:
        return stored
    registry = get_registry()
    archive = registry.redis.hget(registry.job_key(job_id), "archive")
    if not archive:
        return 0
    return sum(i.file_size for i in storage.archive_members(archive) if not i.is_dir())


def settle(job_id: str) -> int:
    """Count a job's files as they are now against its owner; returns the change in bytes."""
    registry = get_registry()
    script = registry.redis.register_script(_SETTLE)
    return int(script(keys=[registry.job_key(job_id), _usage_key()], args=[job_bytes(job_id)]))


def release(job_ids: Iterable[str]) -> None:
    """Stop counting jobs whose files are about to go (retention, dead-letter clean-up)."""
    registry = get_registry()
    script = registry.redis.register_script(_SETTLE)
    for job_id in job_ids:
        script(keys=[registry.job_key(job_id), _usage_key()], args=[0])


def used_bytes(owner: str) -> int:
    """Bytes the person's files take: uploads and outputs of their jobs."""
    return max(0, int(get_redis().hget(_usage_key(), owner) or 0))


def quota_bytes(owner: str) -> int:
    return limit(owner, "storage_quota_mb") * 1024 * 1024


def check_storage(owner: str, incoming: int) -> None:
    """Refuse an upload that would take the person past their storage quota."""
    if owner == SYSTEM_OWNER or incoming <= 0:
        return
    total, allowed = used_bytes(owner) + incoming, quota_bytes(owner)
    if total > allowed:
        raise QuotaExceeded(
            f"This upload would use {format_size(total)} of your {format_size(allowed)} "
            "storage; delete files on My files first."
        )


def recount_storage() -> dict[str, int]:
    """Measure every job's files again and rebuild the per-owner totals; for maintenance."""
    registry = get_registry()
    totals: dict[str, int] = {}
    ids = registry.redis.zrange(registry.index_key("all"), 0, -1)
    stored = storage.stored_jobs()
    for job_id in ids:
        owner = registry.redis.hget(registry.job_key(job_id), "owner")
        if not owner:
            continue
        size = job_bytes(job_id, stored[job_id].size if job_id in stored else 0)
        registry.redis.hset(registry.job_key(job_id), "stored_bytes", size)
        totals[owner] = totals.get(owner, 0) + size
    with registry.redis.pipeline() as pipe:
        pipe.delete(_usage_key())
        if totals:
            pipe.hset(_usage_key(), mapping=totals)
        pipe.execute()
    return totals
