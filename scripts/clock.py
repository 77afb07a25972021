#!/usr/bin/env python3
"""The Procfile's clock: the nightly kickoff on SEOBATCH_SCHEDULE, and the recovery sweep.

Runs until SIGTERM/SIGINT. The kickoff fires at each minute SEOBATCH_SCHEDULE matches
(cron syntax, UTC; default ``0 2 * * *``); the sweep runs every SEOBATCH_RECOVER_INTERVAL
seconds (default 300). A failing kickoff or sweep is logged and the clock goes on.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kickoff import kick  # noqa: E402

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


def main() -> int:
    settings = Settings.from_env()
    setup_logging(logging.INFO, settings.secrets(), settings.log_format)
    schedule = Schedule.parse(settings.schedule)
    if not settings.redis_url:
        log.error("the clock needs REDIS_URL: its messages are for the workers")
        return 1
    from seobatch.cli.common import open_database

    open_database(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    next_kick = schedule.next_after(now())
    next_sweep = now()
    log.info("clock: kickoff on %r (next %s UTC), recovery every %ss",
             settings.schedule, next_kick.isoformat(timespec="minutes"), settings.recover_interval)
    while not stop.is_set():
        t = now()
        if t >= next_kick:
            next_kick = schedule.next_after(t)
            try:
                kick(settings)
            except Exception:  # the clock must outlive a bad night (SeobatchError included)
                log.exception("kickoff failed; next at %s UTC", next_kick.isoformat(timespec="minutes"))
        elif t >= next_sweep:
            next_sweep = t + timedelta(seconds=settings.recover_interval)
            try:
                sweep(settings)
            except Exception:
                log.exception("recovery sweep failed")
        wait = min((next_kick - now()).total_seconds(), (next_sweep - now()).total_seconds())
        stop.wait(max(1.0, min(wait, 60.0)))
    log.info("clock: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
