"""Times as people read them: one format, in their own time zone, with a hint of how far off."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMAT = "%d %b %Y, %H:%M"
MINUTE, HOUR, DAY = 60, 3600, 86400


def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or the machine's own when the name is missing or unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo


def relative(seconds: float) -> str:
    """How far `seconds` from now is, in words: "in 3 min", "2 h ago", "just now"."""
    distance = abs(seconds)
    if distance < 45:
        return "just now" if seconds <= 0 else "in a moment"
    if distance < HOUR:
        amount = f"{round(distance / MINUTE)} min"
    elif distance < DAY:
        amount = f"{distance / HOUR:.0f} h"
    else:
        days = round(distance / DAY)
        amount = f"{days} day" + ("" if days == 1 else "s")
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def describe(timestamp: float | None, tz: tzinfo, now: float) -> str:
    """A moment as "02 Dec 2026, 14:03 (in 3 min)"; a dash for no moment."""
    if not timestamp:
        return "—"
    local = datetime.fromtimestamp(timestamp, tz).strftime(FORMAT)
    hint = relative(timestamp - now) if abs(timestamp - now) < 7 * DAY else ""
    return f"{local} ({hint})" if hint else local
