"""recover: look at every active job, say what it waits on, and move the stalled ones on.

A worker can die mid-stage (SIGKILL, OOM, a lost host) and a message can be lost
(Redis restarted without persistence, a killed worker's prefetched or delayed
messages). Every active state has a stage that picks the job up idempotently, so
enqueuing it again is always safe; the question is only *when*, and the answer is the
job's claim (``claims.py``):

- **a live claim** (collect, submit, results renew theirs per chunk / heartbeat): a
  worker is on it → left alone, however long the stage takes;
- **an expired claim**: its worker stopped renewing, i.e. died → the stage is enqueued
  again at once;
- **processing, no results claim**: the poll chain promised a poll at ``next_poll_at``;
  once that is past by the grace below and nothing polled, the chain is dead → poll
  again. No next poll and no claim: the last poll saw the batch end → results.
- **no claim at all** (collecting or submitting, nothing started): the stage's message
  waits in the queue (perhaps behind a long backlog) or was lost → enqueued again after
  ``SEOBATCH_STALE_AFTER`` without change.

The grace for a chain with no claim to prove it dead, and the life of the claim the sweep
leaves on a job it enqueued (``claim_by`` ``sweep@…``), is ``SEOBATCH_CLAIM_TTL``,
doubled for each earlier recovery of the job (``recoveries``), up to
``SEOBATCH_STALE_AFTER``: a provider outage makes polls fail and retry, and the sweep
must not add a poll chain every minute beside Dramatiq's retries.

Every action is a compare-and-set on what the sweep read (``claims.hand_off``), so two
sweeps at once (two workers booting, the clock and an operator) enqueue a stage once.
Outbox events whose delivery died with a process are delivered too.

One completed job is looked at as well: one whose failover was decided but whose
fallback job was never made (its worker died between completing it and the hand-over).
The sweep finishes the hand-over (``failover.hand_over``: the row locked, the hand-over
stamped in the same transaction, so it happens once however many sweeps run) and
enqueues the new job's collect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import jobmeta as jm
from .. import outbox
from ..db import utcnow
from ..errors import SeobatchError
from ..jobmeta import ACTIVE_STATUSES, JobStatus
from ..models import SeoBatchJob
from . import claims, failover
from ._common import log, parse_stamp
from .step import STAGE_FOR, Step

if TYPE_CHECKING:
    from ..config import Settings

#: What a worker holding each stage's claim is doing, for the lines of ``recover``.
DOING = {"collect": "pages collected", "submit": "submit attempt renewed", "results": "results saved"}


@dataclass
class Seen:
    """One active job as the sweep saw it: why it acts (``stage``) or waits (``until``)."""

    job_id: int
    status: str
    why: str
    #: The stage enqueued again; None: left alone.
    stage: str | None = None
    #: Left alone until then (a claim's or a due poll's end), when that is known.
    until: datetime | None = None
    #: The job ``stage`` runs for, when not this one (a failover job the sweep made).
    target: int | None = None

    def line(self) -> str:
        if self.stage and self.target is not None:
            then = f"{self.stage} of job {self.target} enqueued"
        else:
            then = f"{self.stage} enqueued again" if self.stage else "left alone"
        return f"job {self.job_id}: {self.why} → {then}"


@dataclass
class Recovery:
    seen: list[Seen] = field(default_factory=list)
    events_delivered: int = 0

    @property
    def stalled(self) -> list[Seen]:
        """The jobs whose stage was enqueued again."""
        return [s for s in self.seen if s.stage]

    @property
    def steps(self) -> list[Step]:
        return [Step(s.stage, s.job_id if s.target is None else s.target) for s in self.stalled if s.stage]

    def next_look(self, horizon: datetime) -> datetime | None:
        """The earliest end of a wait seen (a claim, a due poll), up to ``horizon``."""
        ends = [s.until for s in self.seen if s.until is not None and s.until <= horizon]
        return min(ends) if ends else None

    def lines(self) -> list[str]:
        """What was seen and done, one line per active job (``seobatch recover`` prints these)."""
        out = [s.line() for s in self.seen]
        if self.events_delivered:
            out.append(f"delivered {self.events_delivered} undelivered event(s)")
        return out or ["nothing to recover: no active job"]


def grace(meta: dict[str, Any], settings: Settings) -> float:
    """Seconds the sweep waits on a chain it cannot prove dead: the claim TTL, doubled for
    each earlier recovery of this job, at most SEOBATCH_STALE_AFTER."""
    tries = min(int(meta.get(jm.RECOVERIES) or 0), 16)
    return float(min(settings.claim_ttl * 2 ** tries, settings.stale_after))


def recover(*, settings: Settings, now: datetime | None = None) -> Recovery:
    """Look at every active job, enqueue (the caller sends ``.steps``) the stalled ones'
    stages, and deliver stuck events."""
    now = now or utcnow()
    found = Recovery()
    query = (
        SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.status, SeoBatchJob.updated_at, SeoBatchJob.metadata)
        .where(SeoBatchJob.status.in_(ACTIVE_STATUSES))
        .order_by(SeoBatchJob.id)
    )
    for job in query:
        found.seen.append(_look(job, settings, now))
    found.seen.extend(_hand_overs(settings, now))
    found.events_delivered = outbox.deliver_pending(settings=settings)
    for s in found.stalled:
        log.warning("recover job_id=%s status=%s stage=%s: %s", s.job_id, s.status, s.stage, s.why)
    return found


def _look(job: SeoBatchJob, settings: Settings, now: datetime) -> Seen:
    status, meta = job.status, dict(job.metadata or {})
    wait = grace(meta, settings)
    sweep_claim = claims.SWEEP + claims.owner()
    again = {jm.RECOVERIES: int(meta.get(jm.RECOVERIES) or 0) + 1}

    def act(stage: str, why: str, changes: dict[str, Any]) -> Seen:
        if claims.hand_off(job.id, status, meta, {**changes, **again}):
            return Seen(job.id, status, why, stage=stage)
        return Seen(job.id, status, f"{why}, but another sweep or a worker just changed it")

    def hand(stage: str) -> dict[str, Any]:
        return claims.fields(stage, settings, now=now, by=sweep_claim, seconds=wait)

    claim = claims.read(meta, status)
    if claim is not None:
        if claim.by_sweep:
            if claim.live(now):
                return Seen(job.id, status, f"{status}, {claim.stage} enqueued by a sweep {_ago(now - claim.at)} "
                            f"ago, not started yet (waits until {_clock(claim.until)})", until=claim.until)
            return act(claim.stage, f"{status}, {claim.stage} enqueued by a sweep "
                       f"{_ago(now - claim.at)} ago never started", hand(claim.stage))
        if claim.live(now):
            return Seen(job.id, status, f"{status}, {DOING[claim.stage]} by a live worker ({claim.by}) "
                        f"{_ago(now - claim.at)} ago, claim until {_clock(claim.until)}", until=claim.until)
        return act(claim.stage, f"{status}, {claim.stage} claim of {claim.by} expired "
                   f"{_ago(now - claim.until)} ago", hand(claim.stage))

    if status == JobStatus.PROCESSING:
        due = parse_stamp(meta.get(jm.NEXT_POLL_AT))
        if due is not None:
            late = due + timedelta(seconds=wait)
            if due > now:
                return Seen(job.id, status, f"processing, next poll due in {_ago(due - now)}", until=late)
            if late > now:
                return Seen(job.id, status, f"processing, poll due {_ago(now - due)} ago (waits until "
                            f"{_clock(late)} for it)", until=late)
            return act("poll", f"processing, poll due {_ago(now - due)} ago and nothing polled",
                       {jm.NEXT_POLL_AT: None})  # the poll sent now is due at once
        since = job.updated_at
        late = since + timedelta(seconds=wait)
        if not meta.get(jm.ENDING):  # no poll scheduled, none seen to end: ask the provider
            if late > now:
                return Seen(job.id, status, f"processing, no poll scheduled, unchanged for "
                            f"{_ago(now - since)} (waits until {_clock(late)})", until=late)
            return act("poll", f"processing, no poll scheduled, unchanged for {_ago(now - since)}",
                       {jm.NEXT_POLL_AT: None})
        # The last poll saw the batch end and sent results; none has claimed the job.
        if late > now:
            return Seen(job.id, status, f"processing, batch ended {_ago(now - since)} ago, results "
                        f"not started yet (waits until {_clock(late)})", until=late)
        return act("results", f"processing, batch ended {_ago(now - since)} ago and no worker "
                   "started its results", hand("results"))

    idle = now - job.updated_at
    late = job.updated_at + timedelta(seconds=settings.stale_after)
    stage = STAGE_FOR[status]
    if status == JobStatus.SUBMITTING:
        lease = parse_stamp(meta.get(jm.SUBMIT_LEASE_UNTIL))
        if lease is not None and lease > now:  # a lease written before claims were
            return Seen(job.id, status, f"submitting, submit lease until {_clock(lease)}", until=lease)
    if late > now:
        return Seen(job.id, status, f"{status}, not claimed by any worker, unchanged for {_ago(idle)} "
                    f"(waits until {_clock(late)}, SEOBATCH_STALE_AFTER)")
    return act(stage, f"{status}, not claimed by any worker, unchanged for {_ago(idle)}", hand(stage))


def _hand_overs(settings: Settings, now: datetime) -> list[Seen]:
    """Finish the failover hand-overs a dead results worker left undone (once each), once
    the job has been completed for SEOBATCH_CLAIM_TTL: until then its results stage may
    still be making it (and would win the race harmlessly anyway)."""
    seen = []
    why = "completed, failover decided but no fallback job made"
    for job_id, completed_at in failover.pending_hand_overs(now):
        due = completed_at + timedelta(seconds=settings.claim_ttl)
        if due > now:
            seen.append(Seen(job_id, JobStatus.COMPLETED, f"{why} yet (waits until {_clock(due)})", until=due))
            continue
        try:
            steps = failover.hand_over(job_id, settings)
        except SeobatchError as exc:  # e.g. its fallback no longer routes here: the other jobs still go on
            log.error("job %s needs attention: its failover hand-over failed: %s", job_id, exc)
            seen.append(Seen(job_id, JobStatus.COMPLETED, f"{why}; the hand-over failed: {exc}"))
            continue
        if not steps:
            seen.append(Seen(job_id, JobStatus.COMPLETED, f"{why}; hand-over finished (nothing left to move, "
                             "or another sweep or a worker just made it)"))
            continue
        seen.append(Seen(job_id, JobStatus.COMPLETED, f"{why}: job {steps[0].job_id} made",
                         stage=steps[0].actor, target=steps[0].job_id))
    return seen


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S UTC")
