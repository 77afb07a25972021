"""Claims: which worker is on a job right now, and until when (a lease with a heartbeat).

A stage that works on a job for long claims it when it starts and renews the claim as
it goes: collect and results with each chunk they commit (the claim rides in the
chunk's own metadata write, so no extra statement), submit with a heartbeat thread
while its attempt runs (the create is one long call; its claim is the submit lease).
A worker that dies stops renewing, and its claim runs out ``SEOBATCH_CLAIM_TTL``
seconds after its last renewal. The recovery sweep (``recover.py``) acts on expired
claims only, so it never starts a stage beside a live worker, and it takes an expired
claim over with a compare-and-set before it sends anything (``hand_off``): of two
sweeps at once (two workers booting), one sends.

A claim is four metadata keys (``jobmeta.CLAIM_*``) and counts only for the stage the
job's status belongs to: a collect claim left on a submitting job means nothing. The
stages do not refuse work because of a claim: a duplicate message (Dramatiq's own
redelivery of a dead worker's message) runs idempotently beside the live one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .. import db as _db
from .. import jobmeta as jm
from ..db import utcnow
from ..jobmeta import JobStatus
from ._common import parse_stamp, stamp
from .jobstate import update_metadata

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("seobatch.pipeline")

#: The stage whose claim counts while a job is in each active status.
STAGE_OF: Final = {
    JobStatus.COLLECTING: "collect",
    JobStatus.SUBMITTING: "submit",
    JobStatus.PROCESSING: "results",
}
#: The status each claiming stage works in.
STATUS_OF: Final = {stage: status for status, stage in STAGE_OF.items()}
#: ``claim_by`` of a stage the recovery sweep enqueued and no worker has started yet.
SWEEP: Final = "sweep@"
#: Every key of a claim, and the changes that remove one.
KEYS: Final = (jm.CLAIM_STAGE, jm.CLAIM_BY, jm.CLAIM_AT, jm.CLAIM_UNTIL)
RELEASED: Final = {k: None for k in KEYS}


def owner() -> str:
    """This process, as a claim names it (read at each call: workers are forked)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    stage: str
    by: str
    at: datetime  #: the latest renewal
    until: datetime

    def live(self, now: datetime) -> bool:
        return self.until > now

    @property
    def by_sweep(self) -> bool:
        return self.by.startswith(SWEEP)


def read(meta: dict[str, Any] | None, status: str) -> Claim | None:
    """The claim that counts for a job in ``status``, or None."""
    meta = meta or {}
    stage = meta.get(jm.CLAIM_STAGE)
    until = parse_stamp(meta.get(jm.CLAIM_UNTIL))
    if stage is None or until is None or STAGE_OF.get(status) != stage:  # type: ignore[call-overload]
        return None
    return Claim(str(stage), str(meta.get(jm.CLAIM_BY) or "?"), parse_stamp(meta.get(jm.CLAIM_AT)) or until, until)


def fields(stage: str, settings: Settings, *, now: datetime | None = None, by: str | None = None,
           seconds: float | None = None) -> dict[str, Any]:
    """The metadata of a claim of ``stage`` taken or renewed now, for ``seconds`` (the TTL)."""
    now = now or utcnow()
    return {
        jm.CLAIM_STAGE: stage,
        jm.CLAIM_BY: by or owner(),
        jm.CLAIM_AT: stamp(now),
        jm.CLAIM_UNTIL: stamp(now + timedelta(seconds=settings.claim_ttl if seconds is None else seconds)),
    }


def take(job_id: int, stage: str, settings: Settings) -> bool:
    """Claim the job for ``stage`` (one UPDATE); False when it is no longer in that stage's status."""
    return update_metadata(job_id, expected=(STATUS_OF[stage],), changes=fields(stage, settings)) is not None


def hand_off(job_id: int, status: str, seen: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Write ``changes`` if the job's claim, lease and next poll are still as ``seen``:
    the sweep's compare-and-set before it sends a stage again (one sweep of two wins)."""
    watched = (*KEYS, jm.SUBMIT_LEASE_UNTIL, jm.NEXT_POLL_AT)
    if_meta = {k: seen.get(k) for k in watched}
    return update_metadata(job_id, expected=(status,), changes=changes, if_meta=if_meta) is not None


@contextmanager
def heartbeat(job_id: int, settings: Settings, *, lease: str, cap: datetime) -> Iterator[None]:
    """Renew the submit lease (the submit claim) every third of the TTL while the block
    runs, never past ``cap`` (the attempt's start plus SEOBATCH_SUBMIT_LEASE: the old
    bound on a create in flight). A compare-and-set on the lease written last: once
    another attempt or the job's move took it, the beats stop. The thread dies with the
    process, so a killed worker's lease runs out one TTL after its last beat."""
    stop = threading.Event()

    def beat() -> None:
        last = lease
        every = max(1.0, settings.claim_ttl / 3)
        while not stop.wait(every):
            now = utcnow()
            until = min(now + timedelta(seconds=settings.claim_ttl), cap)
            if until <= (parse_stamp(last) or now):
                return  # at the cap: the lease runs out as it always did
            changes = {**fields("submit", settings, now=now), jm.CLAIM_UNTIL: stamp(until),
                       jm.SUBMIT_LEASE_UNTIL: stamp(until)}
            try:
                with _db.connection(fresh=True):
                    renewed = update_metadata(job_id, expected=(JobStatus.SUBMITTING,), changes=changes,
                                              if_meta={jm.SUBMIT_LEASE_UNTIL: last})
            except Exception as exc:  # noqa: BLE001 - a missed beat; the next one tries again
                log.warning("job %s: could not renew the submit lease: %s", job_id, type(exc).__name__)
                continue
            if renewed is None:
                return  # adopted, released, or taken over: nothing of ours to renew
            last = stamp(until)

    thread = threading.Thread(target=beat, name=f"seobatch-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.claim_ttl)


__all__ = ["KEYS", "RELEASED", "STAGE_OF", "Claim", "fields", "hand_off", "heartbeat", "owner", "read", "take"]
