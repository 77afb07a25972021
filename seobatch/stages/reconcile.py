"""reconcile: which provider batch, if any, an unclear create of this job made.

After a create whose outcome is unknown (timeout, dropped reply, killed worker) the
provider's recent batches are searched. ``submit`` adopts the batch this finds, and
``cancel`` cancels it; both use ``reconcile`` so the rules below hold for both:

- **Owner-aware.** A batch recorded on any other job (its ``ai_batch_id``, or an
  ``orphan_batch_id(s)`` it canceled) is never a candidate.
- **Windowed.** Only batches created after this job's first send, less
  ``RECONCILE_MARGIN`` for clock skew, are considered.
- **Matched by size first.** Anthropic batches carry no name, so the search matches on
  the request count. The jobs of one split run have distinct sizes (``collect`` caps each
  at one fewer item than the job before it), so normally one unowned batch matches and no
  other job of that size has a create in doubt (a *rival*): it is adopted at once.
- **Told apart exactly otherwise.** When several unowned batches match, or a rival of the
  same size may own the one found, the batch's results decide: they name their job
  (custom ids ``j<job>p<page>``), and the first line, streamed, is enough. A candidate
  still running is waited for (nothing is adopted, canceled or sent meanwhile; the
  provider ends every batch within its time limit). A candidate that turns out to be
  another job's is left to that job, or, when that job will never adopt it (failed,
  canceled, has another batch), recorded as its orphan and canceled. Two batches that are
  both this job's (a create that landed after a resend) are one adopted and one orphaned.
  Gemini batches carry our per-job display name, so only the owner rule applies there, and
  every unowned batch with our name is ours.

What is guaranteed: a batch recorded on another job is never adopted or canceled, and a
job never sends again while an unowned batch might be its own. The one case left for a
person is a candidate that has ended but whose results cannot be read (archived past the
provider's retention): after ``give_up_after`` seconds the job fails with ``ambiguous
reconciliation … needs manual review`` and the candidate ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from peewee import fn

from .. import jobmeta as jm
from ..db import tuples, utcnow
from ..errors import ProviderError, ResultsUnavailable
from ..jobmeta import STATUSES, JobStatus
from ..models import SeoBatchItem, SeoBatchJob
from ..routing import provider_for_model
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
    """The outcome: one batch that is ours, nothing, or candidates not told apart yet."""

    batch: BatchInfo | None = None
    #: Unowned batches that may be ours (set only when ambiguous).
    candidates: tuple[str, ...] = ()
    #: Other jobs that may own them.
    rivals: tuple[int, ...] = ()
    #: Some candidate is still running: its results will tell whose it is once it ends.
    waiting: bool = False
    #: Further batches found to be ours besides ``batch`` (a create that landed after a
    #: resend): the caller records them as orphans and cancels them.
    duplicates: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.batch is None and bool(self.candidates)

    def describe(self) -> str:
        """``ambiguous reconciliation: … (candidate batch ids …)``."""
        why = (
            f"{len(self.candidates)} unrecorded batches match"
            if len(self.candidates) > 1
            else f"jobs {', '.join(map(str, self.rivals))} may own the matching batch"
        )
        if len(self.candidates) > 1 and self.rivals:
            why += f" and jobs {', '.join(map(str, self.rivals))} may own them"
        then = (
            "waiting for them to end, when their results name their job"
            if self.waiting
            else "their results cannot be read; not sending again, needs manual review"
        )
        return f"ambiguous reconciliation: {why}; {then} (candidate batch ids {', '.join(self.candidates)})"


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
    if getattr(provider, "matches_by_name", False):
        return _ours(job, unowned)  # our name is unique to this job: every one is ours
    rivals = _rivals(job, provider.name, count, since=cutoff - timedelta(seconds=settings.submit_lease_seconds))
    if len(unowned) == 1 and not rivals:
        return Reconciled(batch=unowned[0])
    return _tell_apart(job, unowned, rivals, provider)


def _ours(job: SeoBatchJob, batches: list[BatchInfo]) -> Reconciled:
    """Every batch is this job's: adopt the oldest (first made, likely furthest along)."""
    oldest = sorted(batches, key=lambda b: (b.created_at is None, b.created_at or 0, b.id))
    if len(oldest) > 1:
        log.warning("job %s: %d batches are its own (a create landed after a resend); "
                    "adopting %s, the others become orphans", job.id, len(oldest), oldest[0].id)
    return Reconciled(batch=oldest[0], duplicates=tuple(b.id for b in oldest[1:]))


def _tell_apart(
    job: SeoBatchJob, unowned: list[BatchInfo], rivals: tuple[int, ...], provider: BatchProvider
) -> Reconciled:
    """Read whose each ended candidate is from its results; wait for the running ones."""
    ours: list[BatchInfo] = []
    unknown: list[BatchInfo] = []
    others: dict[str, int] = {}
    for batch in unowned:
        owner = owner_of(batch, provider) if batch.state == "ended" else None
        if owner == job.id:
            ours.append(batch)
        elif owner is None:
            unknown.append(batch)
        else:
            others[batch.id] = owner
    if others:
        settle_foreign(others, provider)
    if ours:
        return _ours(job, ours)
    if not unknown:
        return Reconciled()  # every candidate is another job's: ours was never made
    if len(unknown) == 1 and not rivals:  # the others were someone else's: as if it were alone
        return Reconciled(batch=unknown[0])
    result = Reconciled(
        candidates=tuple(b.id for b in unknown),
        rivals=rivals,
        waiting=any(b.state != "ended" for b in unknown),
    )
    log.warning("job %s: %s", job.id, result.describe())
    return result


def owner_of(batch: BatchInfo, provider: BatchProvider) -> int | None:
    """The job an ended batch belongs to, read from its first result's custom id.

    None when no result can be read (nothing, or archived); a transient error is raised.
    """
    results = provider.iter_results(batch)
    try:
        for item in results:
            return SeoBatchItem.job_of_custom_id(item.custom_id)
        return None
    except ResultsUnavailable as exc:
        log.warning("batch %s: its results cannot be read, so whose it is stays unknown (%s)", batch.id, exc)
        return None
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # the rest of the stream is never downloaded


def settle_foreign(owners: dict[str, int], provider: BatchProvider) -> None:
    """Batches whose results name another job: leave each to its job while that job may
    still adopt it; otherwise record it as that job's orphan and cancel it."""
    for row in SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.status, SeoBatchJob.ai_batch_id,
                                  SeoBatchJob.metadata).where(SeoBatchJob.id.in_(sorted(set(owners.values())))):
        for batch_id in sorted(b for b, owner in owners.items() if owner == row.id):
            if row.status == JobStatus.SUBMITTING and row.ai_batch_id is None:
                continue  # its own search adopts it
            if batch_id == row.ai_batch_id or batch_id in orphan_ids(row.metadata):
                continue
            log.warning("batch %s is job %s's, which is %s and will not adopt it; canceling it",
                        batch_id, row.id, row.status)
            record_orphan(row.id, batch_id, expected=STATUSES)
            try:
                provider.cancel_batch(batch_id)
            except ProviderError as exc:
                log.error("could not cancel orphan batch %s of job %s: %s", batch_id, row.id, exc)


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
        tuples(SeoBatchItem.select(SeoBatchItem.job, fn.COUNT(SeoBatchItem.id))
        .where(SeoBatchItem.job.in_([o.id for o in maybe]))
        .group_by(SeoBatchItem.job)
        )
    )
    return tuple(sorted(o.id for o in maybe if counts.get(o.id) == count))
