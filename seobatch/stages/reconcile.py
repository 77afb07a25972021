"""reconcile: which provider batch, if any, an unclear create of this job made.

After a create whose outcome is unknown (timeout, dropped reply, killed worker) the
provider's recent batches are searched. ``submit`` adopts the batch this finds, and
``cancel`` cancels it; both use ``reconcile`` so the rules below hold for both:

- **Owner-aware.** A batch recorded on any other job (its ``ai_batch_id``, or an
  ``orphan_batch_id(s)`` it canceled) is never a candidate.
- **Windowed.** Only batches created after this job's first send, less
  ``RECONCILE_MARGIN`` for clock skew, are considered.
- **Adopt one or none.** Anthropic batches carry no name, so the search matches on the
  request count, and a same-sized job of a split run matches too. If more than one
  unowned batch matches, or another job of the same provider that has no batch yet
  (mid-create, or itself unclear) sent in the same window with the same request count,
  the answer is *ambiguous*: nothing is adopted, canceled or sent. Submit looks again
  later and, after ``give_up_after`` seconds, fails the job for manual review. A job
  failed that way (or canceled while its search was ambiguous or could not be done)
  keeps ``reconcile_unresolved`` and stays a rival for the jobs of its window.
  Gemini batches carry our per-job display name, so only the owner rule applies there.

What is guaranteed: a batch recorded on another job is never adopted or canceled, and a
job never sends again while an unowned batch might be its own. What is not: two
same-sized jobs whose creates were both unclear in one window cannot be told apart; both
end failed with ``ambiguous reconciliation … needs manual review`` and the candidate
batch ids, and a person decides (the batches may be running and paid).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from peewee import fn

from .. import jobmeta as jm
from ..db import utcnow
from ..jobmeta import JobStatus
from ..models import SeoBatchItem, SeoBatchJob, provider_for_model
from ._common import log, parse_stamp
from .jobstate import update_metadata

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchInfo, BatchProvider

#: How far before our first create to look for the batch (clock skew between hosts).
RECONCILE_MARGIN = timedelta(minutes=10)
#: Seconds between two looks while reconciliation is ambiguous.
AMBIGUOUS_RETRY_SECONDS = 60
#: Looks at least, before an ambiguous reconciliation fails the job.
AMBIGUOUS_MIN_TRIES = 3


@dataclass(frozen=True)
class Reconciled:
    """The outcome: one batch that is ours, nothing, or ambiguous candidates."""

    batch: BatchInfo | None = None
    #: Unowned batches that may be ours (set only when ambiguous).
    candidates: tuple[str, ...] = ()
    #: Other jobs that may own them.
    rivals: tuple[int, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.batch is None and bool(self.candidates)

    def describe(self) -> str:
        """``ambiguous reconciliation: … needs manual review (candidate batch ids …)``."""
        why = (
            f"{len(self.candidates)} unrecorded batches match"
            if len(self.candidates) > 1
            else f"jobs {', '.join(map(str, self.rivals))} may own the matching batch"
        )
        if len(self.candidates) > 1 and self.rivals:
            why += f" and jobs {', '.join(map(str, self.rivals))} may own them"
        return (
            f"ambiguous reconciliation: {why}; not sending again, needs manual review "
            f"(candidate batch ids {', '.join(self.candidates)})"
        )


def needs_reconcile(meta: dict[str, Any]) -> bool:
    """True when some create attempt of this job may have made a batch we never recorded.

    ``submit_unclear`` is sticky: a later refused attempt does not erase an earlier
    unclear one. An attempt that sent and recorded no outcome (killed worker, or still in
    flight) is unclear too.
    """
    if meta.get(jm.SUBMIT_UNCLEAR):
        return True
    return bool(meta.get(jm.SUBMIT_SENT_AT)) and meta.get(jm.SUBMIT_OUTCOME) != "rejected"


def give_up_after(settings: Settings) -> float:
    """Seconds an ambiguous reconciliation is retried: long enough for a rival's create
    in flight (at most the submit lease) to finish and be recorded."""
    return settings.submit_lease_seconds + settings.submit_settle_seconds + AMBIGUOUS_RETRY_SECONDS


def reconcile(job: SeoBatchJob, meta: dict[str, Any], provider: BatchProvider, settings: Settings) -> Reconciled:
    """Search the provider for this job's batch and apply the rules above."""
    started = parse_stamp(meta.get(jm.SUBMIT_STARTED_AT)) or job.updated_at
    cutoff = started - RECONCILE_MARGIN
    count = SeoBatchItem.select().where(SeoBatchItem.job == job.id).count()
    # List first, then read the database: a rival's ``submit_sent_at`` is committed
    # before its create leaves, so any batch listed here has its rival visible below.
    found = provider.find_batches(display_name=meta[jm.DISPLAY_NAME], created_after=cutoff, request_count=count)
    if not found:
        return Reconciled()
    owned = owned_batch_ids([b.id for b in found], job.id, since=cutoff - RECONCILE_MARGIN)
    unowned = [b for b in found if b.id not in owned]
    if owned:
        log.info("job %s: batches %s belong to other jobs; not ours", job.id, ", ".join(sorted(owned)))
    if not unowned:
        return Reconciled()
    rivals: tuple[int, ...] = ()
    if not getattr(provider, "matches_by_name", False):
        rivals = _rivals(job, provider.name, count, since=cutoff - timedelta(seconds=settings.submit_lease_seconds))
    if len(unowned) == 1 and not rivals:
        return Reconciled(batch=unowned[0])
    result = Reconciled(candidates=tuple(b.id for b in unowned), rivals=rivals)
    log.warning("job %s: %s", job.id, result.describe())
    return result


def orphan_ids(meta: dict[str, Any] | None) -> set[str]:
    """The batches a job recorded as created for it but not adopted (canceled orphans)."""
    meta = meta or {}
    ids = {meta.get(jm.ORPHAN_BATCH_ID)} | set(meta.get(jm.ORPHAN_BATCH_IDS) or ())
    return {i for i in ids if isinstance(i, str) and i}


def orphan_changes(meta: dict[str, Any] | None, batch_id: str) -> dict[str, Any]:
    """Metadata changes recording ``batch_id`` as this job's orphan (owned, never adoptable)."""
    ids = sorted(orphan_ids(meta) | {batch_id})
    return {jm.ORPHAN_BATCH_ID: batch_id, jm.ORPHAN_BATCH_IDS: ids}


def record_orphan(job_id: int, batch_id: str, expected: Iterable[str]) -> None:
    """Record ``batch_id`` on the job, so no other job ever adopts or cancels it."""
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    update_metadata(job_id, expected=expected, changes=orphan_changes(job.metadata if job else None, batch_id))


def owned_batch_ids(ids: list[str], job_id: int, *, since: datetime) -> set[str]:
    """Which of ``ids`` are recorded on a job other than ``job_id``."""
    owned = {
        row.ai_batch_id
        for row in SeoBatchJob.select(SeoBatchJob.ai_batch_id).where(
            SeoBatchJob.ai_batch_id.in_(ids) & (SeoBatchJob.id != job_id)
        )
    }
    # Orphans live in metadata (JSON, not portably queryable): read the jobs touched in
    # the window; a job records its orphan after the batch exists, so after ``since``.
    wanted = set(ids)
    for row in SeoBatchJob.select(SeoBatchJob.metadata).where(
        (SeoBatchJob.id != job_id) & (SeoBatchJob.updated_at >= since)
    ):
        owned |= orphan_ids(row.metadata) & wanted
    return owned


def _rivals(job: SeoBatchJob, provider: str, count: int, *, since: datetime) -> tuple[int, ...]:
    """Other jobs of ``provider`` with ``count`` items and no recorded batch whose create
    may have made a batch in the window (an attempt holding the lease, or unclear)."""
    now = utcnow()
    maybe: list[SeoBatchJob] = []
    for other in SeoBatchJob.select(
        SeoBatchJob.id, SeoBatchJob.model, SeoBatchJob.status, SeoBatchJob.metadata
    ).where(
        (SeoBatchJob.id != job.id)
        & SeoBatchJob.ai_batch_id.is_null()
        & SeoBatchJob.status.in_((JobStatus.SUBMITTING, JobStatus.FAILED))
        & (SeoBatchJob.updated_at >= since)
    ):
        meta = other.metadata or {}
        if (meta.get(jm.PROVIDER) or provider_for_model(other.model)) != provider:
            continue
        lease = parse_stamp(meta.get(jm.SUBMIT_LEASE_UNTIL))
        if other.status == JobStatus.SUBMITTING and lease is not None and lease > now:
            maybe.append(other)  # an attempt is running right now: its create may be landing
            continue
        sent = parse_stamp(meta.get(jm.SUBMIT_SENT_AT))
        if sent is None or sent < since or not needs_reconcile(meta) or orphan_ids(meta):
            continue
        # Submitting: mid-create or unclear. Failed: only if its own search never settled
        # (a job failed after the provider showed no batch for it has none).
        if other.status == JobStatus.FAILED and not meta.get(jm.RECONCILE_UNRESOLVED):
            continue
        maybe.append(other)
    if not maybe:
        return ()
    counts = dict(
        SeoBatchItem.select(SeoBatchItem.job, fn.COUNT(SeoBatchItem.id))
        .where(SeoBatchItem.job.in_([o.id for o in maybe]))
        .group_by(SeoBatchItem.job)
        .tuples()
    )
    return tuple(sorted(o.id for o in maybe if counts.get(o.id) == count))
