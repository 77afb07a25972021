"""The clock: the nightly kickoff on SEOBATCH_SCHEDULE, and the recovery sweep in between.

``scripts/clock.py`` (the Procfile's ``clock``) runs ``run`` until SIGTERM/SIGINT. The
kickoff fires at each time SEOBATCH_SCHEDULE matches (cron syntax in
SEOBATCH_SCHEDULE_TZ, default ``0 2 * * *`` UTC) and is ``runs.start_run``: a sweep, then
the run. The sweep runs every SEOBATCH_RECOVER_INTERVAL seconds (default 300). Each
kickoff and each sweep logs one line saying what it did; a failing one is logged and the
clock goes on. Each runs on a connection of its own (``db.connection(fresh=True)``), so
after a database restart only the unit that met the dead connection fails.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import db
from .config import Settings
from .runs import Queue, start_run
from .schedule import Schedule
from .schema import open_database
from .stages.recover import Recovery, recover

log = logging.getLogger(__name__)

#: The loop wakes at least this often (seconds), so a stop is never far away.
MAX_NAP = 60.0


@dataclass
class Plan:
    """When the clock next kicks off a run and next sweeps (naive UTC)."""

    next_kick: datetime
    next_sweep: datetime


def swept(found: Recovery) -> str:
    """One line for what a sweep did."""
    parts = [f"job {s.job_id} ({s.status}) → {s.stage}" for s in found.stalled]
    if found.events_delivered:
        parts.append(f"{found.events_delivered} undelivered event(s) delivered")
    return ", ".join(parts) or "nothing to recover"


def sweep(settings: Settings, queue: Queue) -> Recovery:
    """The recovery sweep: stalled jobs' stages sent again, stuck events delivered."""
    found = recover(settings=settings)
    queue.send(found.steps)
    return found


def kick(settings: Settings, queue: Queue) -> str:
    """The night's kickoff (a sweep, then the run); one line for what it did."""
    done = start_run(settings, queue=queue, source="clock", skip_if_running=True)
    started = f"job {done.first_job_id} ({done.model}) queued" if done.first_job_id else "no run started"
    return f"{started}; swept: {swept(done.recovery)}"


def tick(settings: Settings, schedule: Schedule, plan: Plan, t: datetime, *, queue: Queue) -> None:
    """One turn of the loop: the kickoff or the sweep when due, each on a fresh connection."""
    if t >= plan.next_kick:
        plan.next_kick = schedule.next_after(t)
        try:
            with db.connection(fresh=True):
                what = kick(settings, queue)
            log.info("clock: kickoff: %s; next kickoff %s", what, schedule.local(plan.next_kick))
        except Exception:  # the clock must outlive a bad night (SeobatchError included)
            log.exception("kickoff failed; next at %s", schedule.local(plan.next_kick))
    elif t >= plan.next_sweep:
        plan.next_sweep = t + timedelta(seconds=settings.recover_interval)
        try:
            with db.connection(fresh=True):
                found = sweep(settings, queue)
            log.info("clock: sweep: recover: %s", swept(found))
        except Exception:
            log.exception("recovery sweep failed")


def run(settings: Settings, *, queue: Queue, stop: threading.Event) -> int:
    """Kick off and sweep until ``stop`` is set; 1 when the clock cannot run (no Redis)."""
    schedule = Schedule.parse(settings.schedule, settings.schedule_tz)
    if not settings.redis_url:
        log.error("the clock needs REDIS_URL: its messages are for the workers")
        return 1
    open_database(settings)
    db.drop_connection()  # each unit of work opens its own
    plan = Plan(next_kick=schedule.next_after(db.utcnow()), next_sweep=db.utcnow())
    log.info("clock: kickoff on %r (next %s), recovery every %ss",
             settings.schedule, schedule.local(plan.next_kick), settings.recover_interval)
    while not stop.is_set():
        tick(settings, schedule, plan, db.utcnow(), queue=queue)
        now = db.utcnow()
        wait = min((plan.next_kick - now).total_seconds(), (plan.next_sweep - now).total_seconds())
        stop.wait(max(1.0, min(wait, MAX_NAP)))
    log.info("clock: stopped")
    return 0
