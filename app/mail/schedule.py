"""When a scheduled email is due: a wall-clock date and time in a named time zone, as UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from app.errors import PermanentError

MAX_DAYS_AHEAD = 366


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. Europe/Paris); PermanentError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PermanentError(f"{name!r} is not a time zone; use a name like Europe/Paris.") \
            from None


def zone_names() -> list[str]:
    """Every IANA time zone name, UTC first, for a picker."""
    return ["UTC", *sorted(z for z in available_timezones() if z != "UTC" and "/" in z)]


def due_at(day: date, at: time, tz_name: str, now: datetime | None = None) -> datetime:
    """The UTC instant of `day` `at` in `tz_name`; refuses times that are past or do not exist."""
    tz = zone(tz_name)
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)
    # A wall time skipped by a daylight-saving jump does not survive a round trip through UTC.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise PermanentError(
            f"{at:%H:%M} does not exist on {day:%Y-%m-%d} in {tz_name}: the clocks jump"
            " forward then. Pick another time."
        )
    moment = local.astimezone(UTC)
    now = now or datetime.now(UTC)
    if moment <= now:
        raise PermanentError(f"{day:%Y-%m-%d} {at:%H:%M} {tz_name} is in the past.")
    if (moment - now).days > MAX_DAYS_AHEAD:
        raise PermanentError(f"An email can be scheduled at most {MAX_DAYS_AHEAD} days ahead.")
    return moment


def parse_due(value: str | float | int) -> datetime:
    """A due time given as an ISO 8601 string with an offset, or as epoch seconds, in UTC."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentError(f"{value!r} is not a date and time.") from None
    if moment.tzinfo is None:
        raise PermanentError(f"{value!r} has no time zone offset.")
    return moment.astimezone(UTC)


def due_time(send_at: str | float, tz_name: str, asked_at: datetime | None = None) -> datetime:
    """When a scheduled email is due, in UTC; a time without offset is read in `tz_name`.

    The time must be later than when the user asked (`asked_at`), not than now: a job that
    waited in a busy queue past its time is still stored, and the dispatcher sends it at once.
    """
    asked_at = asked_at or datetime.now(UTC)
    if isinstance(send_at, str) and not _has_offset(send_at):
        try:
            local = datetime.fromisoformat(send_at)
        except ValueError:
            raise PermanentError(f"{send_at!r} is not a date and time.") from None
        return due_at(local.date(), local.time(), tz_name, now=asked_at)
    due = parse_due(send_at)
    if due <= asked_at:
        raise PermanentError("The time to send is in the past.")
    return due


def _has_offset(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
