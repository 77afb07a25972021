"""A small cron: five fields (minute hour day-of-month month day-of-week), UTC.

Each field takes ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` /
``a-b/n``; day-of-week is 0-6 with 0 (or 7) = Sunday. As in cron, when both day fields
are restricted a day matching either one fires. That is all the clock needs; no new
dependency for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import ConfigError

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


def _parse_field(text: str, name: str, low: int, high: int, expr: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, _, raw_step = part.partition("/")
            if not raw_step.isdigit() or int(raw_step) < 1:
                raise ConfigError(f"schedule {expr!r}: bad step in the {name} field")
            step = int(raw_step)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, _, b = part.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ConfigError(f"schedule {expr!r}: bad range {part!r} in the {name} field")
            start, end = int(a), int(b)
        elif part.isdigit():
            start = end = int(part)
        else:
            raise ConfigError(f"schedule {expr!r}: {part!r} is not a number in the {name} field")
        if not low <= start <= end <= high:
            raise ConfigError(f"schedule {expr!r}: the {name} field takes {low}-{high}, got {part!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expr: str) -> Schedule:
        parts = expr.split()
        if len(parts) != 5:
            raise ConfigError(
                f"schedule {expr!r} must have 5 fields: minute hour day month weekday (e.g. '0 2 * * *')"
            )
        sets = [_parse_field(p, *spec, expr) for p, spec in zip(parts, _FIELDS)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(expr, sets[0], sets[1], sets[2], sets[3], weekdays,
                   any_day=parts[2] == "*", any_weekday=parts[4] == "*")

    def matches(self, when: datetime) -> bool:
        return (
            when.minute in self.minutes and when.hour in self.hours
            and when.month in self.months and self._day_ok(when)
        )

    def _day_ok(self, when: datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after ``when``."""
        t = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + timedelta(days=366 * 5)  # any valid expression fires within 5 years
        while t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise ConfigError(f"schedule {self.expr!r} never fires")
