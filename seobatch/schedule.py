"""The clock's schedule: a cron expression in a time zone, through ``cronsim``.

Five fields (minute hour day-of-month month day-of-week) as in cron, including ranges,
lists, steps and names; as in cron, when both day fields are restricted a day matching
either one fires. The expression is read in ``SEOBATCH_SCHEDULE_TZ`` (an IANA name,
default UTC) and every time in and out of this module is naive UTC, as the database
stores it.

Daylight saving time, as Debian's cron and ``cronsim`` handle it: a run at a wall time
the spring-forward night skips (02:30 in Europe/Berlin) fires once, at the first minute
after the gap (03:00); a run at a wall time the fall-back night repeats (01:30 in
America/New_York) fires once, at its first occurrence.

Why ``cronsim``: it is small, has no dependencies, is maintained (it runs Healthchecks.io's
schedule checks) and states its DST behaviour; ``croniter`` went through a period of being
unmaintained in 2024 and interprets DST gaps in ways that have changed between releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ConfigError

#: Any valid expression fires within this many years (29 February on a given weekday: 28).
HORIZON_YEARS = 30


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ConfigError naming SEOBATCH_SCHEDULE_TZ."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"SEOBATCH_SCHEDULE_TZ {name!r} is not a known time zone ({exc})") from None


def _valid(expr: str) -> bool:
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError:
        return False
    return True


@dataclass(frozen=True)
class Schedule:
    expr: str
    tz: ZoneInfo

    @classmethod
    def parse(cls, expr: str, tz: str = "UTC") -> Schedule:
        parts = expr.split()
        if len(parts) != 5:
            raise ConfigError(
                f"schedule {expr!r} must have 5 fields: minute hour day month weekday (e.g. '0 2 * * *')"
            )
        schedule = cls(expr, zone(tz))
        try:
            CronSim(expr, datetime(2000, 1, 1, tzinfo=schedule.tz))
        except CronSimError as exc:
            if _valid(" ".join(parts[:3] + ["*"] + parts[4:])):
                # Each field is fine, the day and month never meet (30 February).
                raise ConfigError(f"schedule {expr!r} never fires ({exc})") from None
            raise ConfigError(f"schedule {expr!r}: {exc}") from None
        return schedule

    @property
    def zone_name(self) -> str:
        return self.tz.key

    def next_after(self, when: datetime) -> datetime:
        """The first time the schedule fires strictly after ``when`` (both naive UTC)."""
        start = when.replace(tzinfo=UTC).astimezone(self.tz)
        try:
            fire = next(CronSim(self.expr, start))
        except (StopIteration, CronSimError):
            raise ConfigError(f"schedule {self.expr!r} never fires") from None
        if fire.year - start.year > HORIZON_YEARS:
            raise ConfigError(f"schedule {self.expr!r} never fires")
        return fire.astimezone(UTC).replace(tzinfo=None)

    def local(self, when: datetime) -> str:
        """A naive-UTC time as a wall time in the schedule's zone, to the minute (for logs)."""
        wall = when.replace(tzinfo=UTC).astimezone(self.tz)
        return f"{wall.isoformat(timespec='minutes')} {self.zone_name}"
