"""One readable time format, in the viewer's zone, with how far off it is."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.ui import times

BERLIN = ZoneInfo("Europe/Berlin")
NOON_UTC = datetime(2026, 12, 2, 12, 0).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def test_a_time_shows_in_the_viewers_zone_to_the_minute() -> None:
    assert times.describe(NOON_UTC, BERLIN, NOON_UTC + 30 * 86400) == "02 Dec 2026, 13:00"


def test_a_near_time_says_how_soon_or_how_long_ago() -> None:
    assert times.describe(NOON_UTC + 180, BERLIN, NOON_UTC).endswith("(in 3 min)")
    assert times.describe(NOON_UTC - 7200, BERLIN, NOON_UTC).endswith("(2 h ago)")
    assert times.describe(NOON_UTC - 86400, BERLIN, NOON_UTC).endswith("(1 day ago)")
    assert times.describe(NOON_UTC - 10, BERLIN, NOON_UTC).endswith("(just now)")


def test_no_time_is_a_dash() -> None:
    assert times.describe(None, BERLIN, NOON_UTC) == "—"


def test_an_unknown_zone_falls_back_to_the_servers() -> None:
    assert times.zone("Mars/Olympus") is not None
    assert times.zone("Europe/Berlin") == BERLIN
