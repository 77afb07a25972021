"""submit: send the job's batch to the provider — the only step that spends money.

The rules that keep a job from being paid twice:

1. **A lease.** A submit attempt first claims the job with a compare-and-set on its
   metadata (``submit_lease_until``). A second worker holding a duplicate message finds
   the lease and comes back later instead of sending a second batch while the first
   call is still in flight.
2. **Committed before the call.** The lease, ``display_name`` (``seobatch-job-<id>-<token>``,
   the same for every attempt), the attempt counter and ``submit_started_at`` are
   committed before the create request leaves.
3. **Reconcile, then resend.** When an earlier attempt may have reached the provider
   (its outcome was never recorded: timeout, dropped connection, killed worker), the
   provider's recent batches are searched first (``find_batch``) and a match is adopted.
   Only when nothing shows up and the last create is older than
   ``submit_settle_seconds`` is the batch sent again. A create that was plainly refused
   (429/529: ``TransientError`` but not ``AmbiguousCreate``) created nothing and needs no
   reconciliation.
4. **Adoption is a compare-and-set** (``mark_submitted``, expected ``submitting``). A
   batch created for a job that was canceled meanwhile is canceled at the provider.

The cost guard (``--max-cost`` / ``SEOBATCH_MAX_COST``) fails the job before its first
create when the estimate at batch prices — prompt tokens, and every reply at its
``max_tokens`` (an upper bound) — is above the limit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..db import utcnow
from ..errors import AmbiguousCreate, ProviderError, TransientError
from ..models import STATUSES, SeoBatchItem, SeoBatchJob
from ..providers.base import BatchInfo, BatchRequest
from . import Step
from ._common import fail_job, later, load_job, log, parse_stamp, provider_for, stamp, update_metadata

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider

#: How far before our first create to look for the batch (clock skew between hosts).
RECONCILE_MARGIN = timedelta(minutes=10)


class JobRequests:
    """The job's requests, streamed from the database in keyset chunks.

    Iterable more than once (a client may measure the body before sending it); never
    holds more than one chunk of rows.
    """

    def __init__(self, job_id: int, chunk_size: int) -> None:
        self.job_id = job_id
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BatchRequest]:
        after = 0
        while True:
            rows = list(
                SeoBatchItem.select(SeoBatchItem.id, SeoBatchItem.custom_id, SeoBatchItem.request)
                .where((SeoBatchItem.job == self.job_id) & (SeoBatchItem.id > after))
                .order_by(SeoBatchItem.id)
                .limit(self.chunk_size)
                .tuples()
            )
            if not rows:
                return
            for _, custom_id, body in rows:
                yield BatchRequest(custom_id, body)
            after = rows[-1][0]


def estimate_cost(job: SeoBatchJob, settings: Settings) -> tuple[float | None, int, int]:
    """(USD at batch prices or None when the model has no price, input tokens, output tokens)."""
    from ..pricing import estimate_batch_cost

    meta = job.metadata or {}
    count = int(job.total_pages or meta.get("collected") or 0)
    input_tokens = int(meta.get("estimated_input_tokens") or 0)
    output_tokens = count * settings.max_output_tokens
    cost = estimate_batch_cost(job.model, input_tokens, output_tokens, settings)
    return cost, input_tokens, output_tokens


def cost_guard(job: SeoBatchJob, settings: Settings) -> str | None:
    """Why the job must not be sent, or None when it may."""
    meta = job.metadata or {}
    cap = meta.get("max_cost", settings.max_cost)
    if cap is None:
        return None
    cost, _, _ = estimate_cost(job, settings)
    if cost is None:
        return (
            f"no price is known for {job.model}, so the max cost of ${float(cap):.2f} "
            "cannot be checked; add the model to SEOBATCH_PRICES_FILE"
        )
    if cost > float(cap):
        return (
            f"estimated cost ${cost:.2f} at batch prices is above the max cost of "
            f"${float(cap):.2f}; nothing was sent"
        )
    return None


@dataclass
class _Claim:
    meta: dict[str, Any]
    #: When set, another attempt holds the lease until then.
    busy_until: datetime | None = None


def submit(
    job_id: int,
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
    now: datetime | None = None,
) -> list[Step]:
    """Send (or adopt) the job's batch; returns the first poll, or a later submit."""
    job = load_job(job_id)
    if job is None or not job.is_submitting:
        return []
    now = now or utcnow()
    meta = job.metadata or {}
    if not meta.get("submit_started_at"):
        reason = cost_guard(job, settings)
        if reason:
            fail_job(job, reason, settings=settings, expected=("submitting",))
            return []
    provider = provider_for(job, settings, provider)
    claim = _claim(job, settings, now)
    if claim is None:
        return []
    if claim.busy_until is not None:
        wait = max(1.0, (claim.busy_until - now).total_seconds() + 1)
        log.info("job %s: another submit attempt holds the lease; retrying in %.0fs", job_id, wait)
        return [Step("submit", job_id, delay_ms=int(wait * 1000))]
    outcome: dict[str, str] = {}
    try:
        return _attempt(job, claim.meta, provider, settings, now, outcome)
    finally:
        # Let the next attempt in at once; a killed worker's lease simply runs out.
        update_metadata(
            job_id, expected=("submitting",), changes={"submit_lease_until": None, **outcome}
        )


def _claim(job: SeoBatchJob, settings: Settings, now: datetime) -> _Claim | None:
    from .. import db as _db

    with _db.write_transaction():
        row = _db.lock_for_update(
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.metadata).where(SeoBatchJob.id == job.id)
        ).first()
        if row is None or row.status != "submitting":
            return None
        meta = dict(row.metadata or {})
        lease = parse_stamp(meta.get("submit_lease_until"))
        if lease is not None and lease > now:
            return _Claim(meta, busy_until=lease)
        meta.update(
            display_name=meta.get("display_name") or f"seobatch-job-{job.id}-{secrets.token_hex(4)}",
            submit_attempts=int(meta.get("submit_attempts") or 0) + 1,
            submit_lease_until=later(now, settings.submit_lease_seconds),
        )
        SeoBatchJob.update(metadata=meta, updated_at=utcnow()).where(SeoBatchJob.id == job.id).execute()
        return _Claim(meta)


def _attempt(
    job: SeoBatchJob,
    meta: dict[str, Any],
    provider: BatchProvider,
    settings: Settings,
    now: datetime,
    outcome: dict[str, str],
) -> list[Step]:
    """One claimed attempt; records in ``outcome`` what the next attempt must know."""
    sent_before = parse_stamp(meta.get("submit_sent_at"))
    if sent_before is not None and meta.get("submit_outcome") != "rejected":
        found = _find(job, meta, provider)
        if found is not None:
            return _adopt(job, meta, found, provider, settings, reconciled=True)
        settle = settings.submit_settle_seconds - (now - sent_before).total_seconds()
        if settle > 0:
            log.info("job %s: no batch found yet after an unclear create; looking again in %.0fs",
                     job.id, settle)
            return [Step("submit", job.id, delay_ms=int(settle * 1000) + 1)]
        log.warning("job %s: the provider shows no batch named %s; sending again",
                    job.id, meta["display_name"])
    sent_at = utcnow()
    changes = {"submit_sent_at": stamp(sent_at), "submit_outcome": None}
    if not meta.get("submit_started_at"):
        changes["submit_started_at"] = stamp(sent_at)
    meta = update_metadata(job.id, expected=("submitting",), changes=changes)
    if meta is None:
        return []  # canceled meanwhile: send nothing
    requests = JobRequests(job.id, settings.chunk_size)
    try:
        info = provider.create_batch(requests, model=job.model, display_name=meta["display_name"])
    except AmbiguousCreate as exc:
        log.warning("job %s: create outcome unknown (%s); reconciling", job.id, exc)
        found = _find(job, meta, provider)
        if found is not None:
            return _adopt(job, meta, found, provider, settings, reconciled=True)
        return [Step("submit", job.id, delay_ms=settings.submit_settle_seconds * 1000 + 1)]
    except TransientError:
        # The provider refused before doing anything (429, 529): nothing to look for
        # next time. The actor's retry sends again.
        outcome["submit_outcome"] = "rejected"
        raise
    return _adopt(job, meta, info, provider, settings, reconciled=False)


def reconcile(
    job_id: int, *, settings: Settings, provider: BatchProvider | None = None
) -> list[Step] | None:
    """Look for the batch an earlier create may have made, and adopt it; never send one.

    The last look before a submit that gave up (retries exhausted, a permanent error)
    may fail its job: a job whose create may have reached the provider is failed only
    once the provider shows no batch for it. Returns the steps to send when the batch
    was found (adopted, or already handled: ``[]``), None when the provider shows none;
    raises ProviderError when it could not tell.
    """
    job = load_job(job_id)
    if job is None or not job.is_submitting:
        return []
    meta = job.metadata or {}
    if not meta.get("display_name"):
        return None  # no attempt was ever claimed: nothing can have been sent
    provider = provider_for(job, settings, provider)
    found = _find(job, meta, provider)
    if found is None:
        return None
    return _adopt(job, meta, found, provider, settings, reconciled=True)


def _find(job: SeoBatchJob, meta: dict[str, Any], provider: BatchProvider) -> BatchInfo | None:
    started = parse_stamp(meta.get("submit_started_at")) or job.updated_at
    count = SeoBatchItem.select().where(SeoBatchItem.job == job.id).count()
    return provider.find_batch(
        display_name=meta["display_name"],
        created_after=started - RECONCILE_MARGIN,
        request_count=count,
    )


def _adopt(
    job: SeoBatchJob,
    meta: dict[str, Any],
    info: BatchInfo,
    provider: BatchProvider,
    settings: Settings,
    *,
    reconciled: bool,
) -> list[Step]:
    owner = (
        SeoBatchJob.select(SeoBatchJob.id)
        .where((SeoBatchJob.ai_batch_id == info.id) & (SeoBatchJob.id != job.id))
        .first()
    )
    if owner is not None:
        # Anthropic batches carry no name: a same-sized batch of another job matched.
        # Sending again could pay twice; stop and let a person look.
        fail_job(
            job,
            f"reconciliation matched batch {info.id}, which belongs to job {owner.id}; "
            "not sending again — check the provider's batch list",
            expected=("submitting",),
        )
        return []
    now = utcnow()
    extra = {
        "display_name": meta["display_name"],
        "provider_state": info.provider_state,
        "submit_lease_until": None,
        "next_poll_at": later(now, settings.poll_interval),
    }
    if reconciled:
        extra["reconciled"] = True
    if job.mark_submitted(info.id, provider=provider.name, extra_metadata=extra):
        log.info("job %s: batch %s %s", job.id, info.id, "adopted" if reconciled else "created")
        return [Step("poll", job.id, delay_ms=settings.poll_interval * 1000)]
    current = load_job(job.id)
    if current is not None and current.ai_batch_id == info.id:
        return []
    # The job was canceled (or failed) while the create was in flight: nobody will
    # read this batch, so stop it from running up a bill.
    log.warning("job %s is %s; canceling its orphan batch %s", job.id,
                current.status if current else "gone", info.id)
    update_metadata(job.id, expected=STATUSES, changes={"orphan_batch_id": info.id})
    try:
        provider.cancel_batch(info.id)
    except ProviderError as exc:
        log.error("job %s: could not cancel orphan batch %s: %s", job.id, info.id, exc)
    return []
