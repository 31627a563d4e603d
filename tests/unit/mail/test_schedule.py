from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from app.errors import PermanentError
from app.mail.schedule import due_at, parse_due, zone_names

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_a_local_time_becomes_the_right_utc_instant() -> None:
    assert due_at(date(2027, 3, 1), time(14, 30), "Europe/Paris", NOW) == datetime(
        2027, 3, 1, 13, 30, tzinfo=UTC
    )
    assert due_at(date(2027, 7, 1), time(9, 0), "America/New_York", NOW) == datetime(
        2027, 7, 1, 13, 0, tzinfo=UTC
    )


def test_a_time_skipped_by_daylight_saving_is_refused() -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        due_at(date(2027, 3, 28), time(2, 30), "Europe/Paris", NOW)


def test_past_far_future_and_unknown_zones_are_refused() -> None:
    with pytest.raises(PermanentError, match="in the past"):
        due_at(date(2027, 3, 1), time(11, 0), "UTC", NOW)
    with pytest.raises(PermanentError, match="at most 366 days"):
        due_at(date(2029, 1, 1), time(9, 0), "UTC", NOW)
    with pytest.raises(PermanentError, match="not a time zone"):
        due_at(date(2027, 4, 1), time(9, 0), "Mars/Olympus", NOW)


def test_due_times_parse_from_iso_or_epoch() -> None:
    assert parse_due("2027-03-01T14:00:00+01:00") == datetime(2027, 3, 1, 13, 0, tzinfo=UTC)
    assert parse_due(0) == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(PermanentError, match="no time zone offset"):
        parse_due("2027-03-01T14:00:00")


def test_zone_names_start_with_utc() -> None:
    names = zone_names()
    assert names[0] == "UTC" and "Europe/Paris" in names
