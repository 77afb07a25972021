#!/usr/bin/env python3
"""The Procfile's clock: the nightly kickoff on SEOBATCH_SCHEDULE, and the recovery sweep.

Runs until SIGTERM/SIGINT. The kickoff fires at each minute SEOBATCH_SCHEDULE matches
(cron syntax, UTC; default ``0 2 * * *``); the sweep runs every SEOBATCH_RECOVER_INTERVAL
seconds (default 300). A failing kickoff or sweep is logged and the clock goes on.
Each kickoff and sweep runs on a connection of its own (``db.connection(fresh=True)``),
so after a database restart only the unit that met the dead connection fails.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kickoff import kick  # noqa: E402

from seobatch import db  # noqa: E402
from seobatch.config import Settings  # noqa: E402
from seobatch.logs import setup_logging  # noqa: E402
from seobatch.schedule import Schedule  # noqa: E402

log = logging.getLogger("seobatch.clock")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def sweep(settings: Settings) -> None:
    from seobatch.stages.recover import recover

    found = recover(settings=settings)
    if found.steps:
        from actors import send_steps

        send_steps(found.steps)
    for s in found.stalled:
        log.info("recover: job %s (%s) → %s", s.job_id, s.status, s.stage)


@dataclass
class Plan:
    """When the clock next kicks off a run and next sweeps."""

    next_kick: datetime
    next_sweep: datetime


def tick(settings: Settings, schedule: Schedule, plan: Plan, t: datetime) -> None:
    """One turn of the loop: the kickoff or the sweep when due, each on a fresh connection."""
    if t >= plan.next_kick:
        plan.next_kick = schedule.next_after(t)
        try:
            with db.connection(fresh=True):
                kick(settings)
        except Exception:  # the clock must outlive a bad night (SeobatchError included)
            log.exception("kickoff failed; next at %s UTC", plan.next_kick.isoformat(timespec="minutes"))
    elif t >= plan.next_sweep:
        plan.next_sweep = t + timedelta(seconds=settings.recover_interval)
        try:
            with db.connection(fresh=True):
                sweep(settings)
        except Exception:
            log.exception("recovery sweep failed")


def main() -> int:
    settings = Settings.from_env()
    setup_logging(logging.INFO, settings.secrets(), settings.log_format)
    schedule = Schedule.parse(settings.schedule)
    if not settings.redis_url:
        log.error("the clock needs REDIS_URL: its messages are for the workers")
        return 1
    from seobatch.cli.common import open_database

    open_database(settings)
    db.drop_connection()  # each unit of work opens its own
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    plan = Plan(next_kick=schedule.next_after(now()), next_sweep=now())
    log.info("clock: kickoff on %r (next %s UTC), recovery every %ss",
             settings.schedule, plan.next_kick.isoformat(timespec="minutes"), settings.recover_interval)
    while not stop.is_set():
        tick(settings, schedule, plan, now())
        wait = min((plan.next_kick - now()).total_seconds(), (plan.next_sweep - now()).total_seconds())
        stop.wait(max(1.0, min(wait, 60.0)))
    log.info("clock: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
