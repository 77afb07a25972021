"""recover: find jobs that stopped moving and enqueue their stage again.

A message can be lost (Redis restarted without persistence, a worker killed between
commit and send). Every active state has a stage that picks the job up idempotently
(``step.STAGE_FOR``), so re-enqueuing it is always safe:

    collecting  → collect (resumes after the job's cursor)
    submitting  → submit  (reconciles with the provider before sending anything)
    processing  → poll    (asks the provider; a duplicate poll chain dies out)

A job counts as stalled when its row has not changed for ``settings.stale_after``
seconds; processing jobs get ``poll_max_interval`` on top (their next poll may
legitimately be that far away), and a submitting job whose lease is still running is
left to the attempt that holds it. Outbox events whose delivery died with a process
are delivered too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from .. import outbox
from ..db import utcnow
from ..jobmeta import ACTIVE_STATUSES, JobStatus
from ..models import SeoBatchJob
from ._common import log, parse_stamp
from .step import STAGE_FOR, Step

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class Stalled:
    job_id: int
    status: str
    idle_seconds: int
    stage: str


@dataclass
class Recovery:
    stalled: list[Stalled] = field(default_factory=list)
    events_delivered: int = 0

    @property
    def steps(self) -> list[Step]:
        return [Step(s.stage, s.job_id) for s in self.stalled]

    def lines(self) -> list[str]:
        """What was done, one line each (``seobatch recover`` prints these)."""
        out = [
            f"job {s.job_id}: {s.status}, idle {_human(s.idle_seconds)} → {s.stage} enqueued again"
            for s in self.stalled
        ]
        if self.events_delivered:
            out.append(f"delivered {self.events_delivered} undelivered event(s)")
        return out or ["nothing to recover"]


def stale_threshold(status: str, settings: Settings) -> timedelta:
    extra = settings.poll_max_interval if status == JobStatus.PROCESSING else 0
    return timedelta(seconds=settings.stale_after + extra)


def recover(*, settings: Settings, now: datetime | None = None) -> Recovery:
    """Find stalled jobs (the caller sends ``.steps``) and deliver stuck events."""
    now = now or utcnow()
    found = Recovery()
    for status in ACTIVE_STATUSES:
        cutoff = now - stale_threshold(status, settings)
        query = (
            SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.status, SeoBatchJob.updated_at, SeoBatchJob.metadata)
            .where((SeoBatchJob.status == status) & (SeoBatchJob.updated_at < cutoff))
            .order_by(SeoBatchJob.id)
        )
        for job in query:
            meta = job.metadata or {}
            lease = parse_stamp(meta.get(jm.SUBMIT_LEASE_UNTIL))
            if status == JobStatus.SUBMITTING and lease is not None and lease > now:
                continue  # an attempt is (or may still be) in its create call
            due = parse_stamp(meta.get(jm.NEXT_POLL_AT))
            if status == JobStatus.PROCESSING and due is not None and due > now:
                continue  # a poll is scheduled
            idle = int((now - job.updated_at).total_seconds())
            found.stalled.append(Stalled(job.id, status, idle, STAGE_FOR[status]))
    found.events_delivered = outbox.deliver_pending(settings=settings)
    for s in found.stalled:
        log.warning("recover job_id=%s status=%s idle=%ss stage=%s", s.job_id, s.status, s.idle_seconds, s.stage)
    return found


def _human(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
