"""The clock's schedule: cron rules, a time zone, and the nights the clocks change."""

from __future__ import annotations

from datetime import datetime

import pytest

from seobatch.errors import ConfigError
from seobatch.schedule import Schedule


@pytest.mark.parametrize(
    "expr, after, expected",
    [
        ("0 2 * * *", datetime(2026, 1, 1, 1, 59), datetime(2026, 1, 1, 2, 0)),
        ("0 2 * * *", datetime(2026, 1, 1, 2, 0), datetime(2026, 1, 2, 2, 0)),
        ("*/15 * * * *", datetime(2026, 1, 1, 10, 7, 30), datetime(2026, 1, 1, 10, 15)),
        ("30 3 * * 1-5", datetime(2026, 11, 28, 12, 0), datetime(2026, 11, 30, 3, 30)),  # Sat → Mon
        ("0 0 * * 0", datetime(2026, 11, 28, 12, 0), datetime(2026, 11, 29, 0, 0)),      # Sunday is 0
        ("0 0 * * 7", datetime(2026, 11, 28, 12, 0), datetime(2026, 11, 29, 0, 0)),      # … and 7
        ("0 0 29 2 *", datetime(2026, 3, 1), datetime(2028, 2, 29)),
        ("0 12 1,15 * *", datetime(2026, 1, 2), datetime(2026, 1, 15, 12, 0)),
        ("0 0 13 * 5", datetime(2026, 11, 1), datetime(2026, 11, 6)),  # day 13 OR a Friday
    ],
)
def test_next_run_follows_cron_rules(expr, after, expected):
    assert Schedule.parse(expr).next_after(after) == expected


@pytest.mark.parametrize("expr", ["0 2 * *", "61 * * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"])
def test_a_bad_schedule_is_a_config_error_naming_it(expr):
    with pytest.raises(ConfigError, match="schedule"):
        Schedule.parse(expr)


def test_a_schedule_that_never_fires_says_so():
    with pytest.raises(ConfigError, match="never fires"):
        Schedule.parse("0 0 30 2 *").next_after(datetime(2026, 1, 1))


# ── a time zone, and the two nights a year its clocks change ─────────────────────────


def test_the_schedule_is_read_in_its_time_zone():
    # 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer
    berlin = Schedule.parse("0 2 * * *", "Europe/Berlin")
    assert berlin.next_after(datetime(2026, 1, 10, 12, 0)) == datetime(2026, 1, 11, 1, 0)
    assert berlin.next_after(datetime(2026, 7, 10, 12, 0)) == datetime(2026, 7, 11, 0, 0)


def _fires(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    out, t = [], start
    while (t := schedule.next_after(t)) < end:
        out.append(t)
    return out


def test_a_run_in_the_hour_spring_forward_skips_fires_once_right_after_the_gap():
    # Europe/Berlin, 29 March 2026: 02:00 → 03:00, so 02:30 never happens that night
    berlin = Schedule.parse("30 2 * * *", "Europe/Berlin")
    fires = _fires(berlin, datetime(2026, 3, 27, 12, 0), datetime(2026, 3, 30, 12, 0))
    assert [berlin.local(t) for t in fires] == [
        "2026-03-28T02:30+01:00 Europe/Berlin",
        "2026-03-29T03:00+02:00 Europe/Berlin",  # once, the first minute after the gap
        "2026-03-30T02:30+02:00 Europe/Berlin",
    ]


def test_a_run_in_the_hour_fall_back_repeats_fires_once():
    # America/New_York, 1 November 2026: 02:00 → 01:00, so 01:30 happens twice that night
    new_york = Schedule.parse("30 1 * * *", "America/New_York")
    fires = _fires(new_york, datetime(2026, 10, 30, 12, 0), datetime(2026, 11, 3, 0, 0))
    assert fires == [
        datetime(2026, 10, 31, 5, 30),  # 01:30 EDT
        datetime(2026, 11, 1, 5, 30),  # the first 01:30 (EDT) only, not the second (06:30 UTC)
        datetime(2026, 11, 2, 6, 30),  # 01:30 EST
    ]


def test_an_unknown_time_zone_is_a_config_error_naming_the_setting():
    with pytest.raises(ConfigError, match="SEOBATCH_SCHEDULE_TZ 'Mars/Olympus'"):
        Schedule.parse("0 2 * * *", "Mars/Olympus")
