"""The clock's small cron."""

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
