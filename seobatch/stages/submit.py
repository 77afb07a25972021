"""submit: send the job's batch to the provider — the only step that spends money.

The rules that keep a job from being paid twice:

1. **A lease.** A submit attempt first claims the job with a compare-and-set on its
   metadata (``submit_lease_until``). A second worker holding a duplicate message finds
   the lease and comes back later instead of sending a second batch while the first
   call is still in flight. The lease is never shorter than the submit actor's time
   limit (``config.SUBMIT_TIME_LIMIT_SECONDS``; checked by ``Settings.from_env``).
2. **Committed before the call.** The lease, ``display_name`` (``seobatch-job-<id>-<token>``,
   the same for every attempt), the attempt counter and ``submit_sent_at`` are
   committed before the create request leaves.
3. **Reconcile, then resend.** When any earlier attempt may have reached the provider
   (its outcome was never recorded: timeout, dropped connection, killed worker — the
   sticky ``submit_unclear`` flag), the provider's recent batches are searched first
   (``reconcile.reconcile``: owner-aware, shared with ``cancel``) and the one batch that can only
   be ours is adopted. Only when nothing unowned shows up and the last create is older
   than ``submit_settle_seconds`` is the batch sent again. When the search is ambiguous
   (two unowned candidates, or another same-sized job may own the one found), nothing
   is adopted or sent: submit looks again later and finally fails the job with
   ``ambiguous reconciliation … needs manual review`` and the candidate batch ids.
4. **Adoption is a compare-and-set** (``mark_submitted``, expected ``submitting``). A
   batch created for a job that was canceled meanwhile is canceled at the provider and
   recorded as the job's orphan (so no other job adopts it).

The cost guard (``--max-cost`` / ``SEOBATCH_MAX_COST``) fails the job before its first
create when the estimate at batch prices — prompt tokens, and every reply at its
``max_tokens`` (an upper bound) — is above the limit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import db as _db
from .. import jobmeta as jm
from ..db import database, utcnow
from ..errors import AmbiguousCreate, ConfigError, PermanentError, ProviderError, TransientError
from ..jobmeta import STATUSES, JobStatus
from ..models import SeoBatchItem, SeoBatchJob
from ..pricing import batch_cost
from ..providers.base import BatchInfo, BatchRequest, RawJSON
from ._common import later, load_job, log, parse_stamp, provider_for, stamp
from .jobstate import DONE, GiveUp, fail_job, safe_reason, update_metadata
from .reconcile import (
    AMBIGUOUS_MIN_TRIES,
    AMBIGUOUS_RETRY_SECONDS,
    Reconciled,
    give_up_after,
    needs_reconcile,
    orphan_changes,
    reconcile,
)
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider


class JobRequests:
    """The job's requests, streamed from the database in keyset chunks.

    Iterable more than once (a client may measure the body before sending it); never
    holds more than one chunk of rows. Each body is the stored JSON text (``RawJSON``),
    handed to the client without decoding it into dicts and encoding it again.
    """

    def __init__(self, job_id: int, chunk_size: int) -> None:
        self.job_id = job_id
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[BatchRequest]:
        after = 0
        while True:
            chunk = (
                SeoBatchItem.select(SeoBatchItem.id, SeoBatchItem.custom_id, SeoBatchItem.request)
                .where((SeoBatchItem.job == self.job_id) & (SeoBatchItem.id > after))
                .order_by(SeoBatchItem.id)
                .limit(self.chunk_size)
            )
            if _db.is_postgres():
                # jsonb comes back as text only when asked (SQLite stores the text). The
                # cast goes outside the LIMIT: under a sort plan it would otherwise turn
                # every item of the job into text for each chunk.
                page = chunk.alias("chunk")
                query = (
                    SeoBatchItem.select(page.c.id, page.c.custom_id, page.c.request.cast("text"))
                    .from_(page)
                    .order_by(page.c.id)
                )
            else:
                query = chunk
            rows = database.execute(query).fetchall()
            if not rows:
                return
            for _, custom_id, text in rows:
                yield BatchRequest(custom_id, RawJSON(text if text is not None else "null"))
            after = rows[-1][0]


def estimate_cost(job: SeoBatchJob, settings: Settings) -> tuple[float | None, int, int]:
    """(USD at batch prices or None when the model has no price, input tokens, output tokens)."""
    meta = job.metadata or {}
    count = int(job.total_pages or meta.get(jm.COLLECTED) or 0)
    input_tokens = int(meta.get(jm.ESTIMATED_INPUT_TOKENS) or 0)
    output_tokens = count * settings.max_output_tokens
    cost = batch_cost(job.model, input_tokens, output_tokens, settings)
    return cost, input_tokens, output_tokens


def cost_guard(job: SeoBatchJob, settings: Settings) -> str | None:
    """Why the job must not be sent, or None when it may."""
    meta = job.metadata or {}
    cap = meta.get(jm.MAX_COST, settings.max_cost)
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
    if not meta.get(jm.SUBMIT_STARTED_AT):
        reason = cost_guard(job, settings)
        if reason:
            fail_job(job, reason, settings=settings, expected=(JobStatus.SUBMITTING,))
            return []
    provider = provider_for(job, settings, provider)
    claim = _claim(job, settings, now)
    if claim is None:
        return []
    if claim.busy_until is not None:
        wait = max(1.0, (claim.busy_until - now).total_seconds() + 1)
        log.info("job %s: another submit attempt holds the lease; retrying in %.0fs", job_id, wait)
        return [Step("submit", job_id, delay_ms=int(wait * 1000))]
    outcome: dict[str, Any] = {}
    try:
        return _attempt(job, claim.meta, provider, settings, now, outcome)
    finally:
        # Let the next attempt in at once; a killed worker's lease simply runs out.
        update_metadata(
            job_id, expected=(JobStatus.SUBMITTING,), changes={jm.SUBMIT_LEASE_UNTIL: None, **outcome}
        )


def _claim(job: SeoBatchJob, settings: Settings, now: datetime) -> _Claim | None:
    with _db.write_transaction():
        row = _db.lock_for_update(
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.metadata).where(SeoBatchJob.id == job.id)
        ).first()
        if row is None or row.status != JobStatus.SUBMITTING:
            return None
        meta = dict(row.metadata or {})
        lease = parse_stamp(meta.get(jm.SUBMIT_LEASE_UNTIL))
        if lease is not None and lease > now:
            return _Claim(meta, busy_until=lease)
        meta.update({
            jm.DISPLAY_NAME: meta.get(jm.DISPLAY_NAME) or f"seobatch-job-{job.id}-{secrets.token_hex(4)}",
            jm.SUBMIT_ATTEMPTS: int(meta.get(jm.SUBMIT_ATTEMPTS) or 0) + 1,
            jm.SUBMIT_LEASE_UNTIL: later(now, settings.submit_lease_seconds),
        })
        SeoBatchJob.update(metadata=meta, updated_at=utcnow()).where(SeoBatchJob.id == job.id).execute()
        return _Claim(meta)


def _attempt(
    job: SeoBatchJob,
    meta: dict[str, Any],
    provider: BatchProvider,
    settings: Settings,
    now: datetime,
    outcome: dict[str, Any],
) -> list[Step]:
    """One claimed attempt; records in ``outcome`` what the next attempt must know."""
    sent_before = parse_stamp(meta.get(jm.SUBMIT_SENT_AT))
    unclear = needs_reconcile(meta)
    if unclear:
        found = reconcile(job, meta, provider, settings)
        if found.batch is not None:
            return _adopt(job, meta, found.batch, provider, settings, reconciled=True)
        if found.ambiguous:
            return _ambiguous(job, meta, found, settings, now)
        settle = settings.submit_settle_seconds - (now - (sent_before or now)).total_seconds()
        if settle > 0:
            log.info("job %s: no batch found yet after an unclear create; looking again in %.0fs",
                     job.id, settle)
            return [Step("submit", job.id, delay_ms=int(settle * 1000) + 1)]
        log.warning("job %s: the provider shows no batch of %s; sending again",
                    job.id, meta[jm.DISPLAY_NAME])
    sent_at = utcnow()
    changes: dict[str, Any] = {jm.SUBMIT_SENT_AT: stamp(sent_at), jm.SUBMIT_OUTCOME: None}
    if unclear:
        changes[jm.SUBMIT_UNCLEAR] = True  # sticky: a later refusal must not erase it
    if not meta.get(jm.SUBMIT_STARTED_AT):
        changes[jm.SUBMIT_STARTED_AT] = stamp(sent_at)
    saved = update_metadata(job.id, expected=(JobStatus.SUBMITTING,), changes=changes)
    if saved is None:
        return []  # canceled meanwhile: send nothing
    meta = saved
    requests = JobRequests(job.id, settings.chunk_size)
    try:
        info = provider.create_batch(requests, model=job.model, display_name=meta[jm.DISPLAY_NAME])
    except AmbiguousCreate as exc:
        log.warning("job %s: create outcome unknown (%s); reconciling", job.id, exc)
        outcome[jm.SUBMIT_UNCLEAR] = True
        update_metadata(job.id, expected=(JobStatus.SUBMITTING,), changes={jm.SUBMIT_UNCLEAR: True})
        meta = {**meta, jm.SUBMIT_UNCLEAR: True}
        found = reconcile(job, meta, provider, settings)
        if found.batch is not None:
            return _adopt(job, meta, found.batch, provider, settings, reconciled=True)
        if found.ambiguous:
            return _ambiguous(job, meta, found, settings, utcnow())
        return [Step("submit", job.id, delay_ms=settings.submit_settle_seconds * 1000 + 1)]
    except (TransientError, PermanentError, ConfigError):
        # The provider refused before doing anything (429, 529, a 4xx), or the request
        # never left (a bad key header, an oversized body): nothing to look for next
        # time. A transient refusal is sent again by the actor's retry.
        outcome[jm.SUBMIT_OUTCOME] = "rejected"
        raise
    return _adopt(job, meta, info, provider, settings, reconciled=False)


@dataclass(frozen=True)
class Adopted:
    """The job's batch was found: adopted (``steps``: its first poll) or already handled."""

    steps: list[Step]


@dataclass(frozen=True)
class Pending:
    """The search was ambiguous: ``steps`` look again later (none once the job failed for review)."""

    steps: list[Step]


@dataclass(frozen=True)
class NotFound:
    """The provider shows no batch that could be this job's (or no create was ever claimed)."""


#: What ``look_for_batch`` found.
Found = Adopted | Pending | NotFound


def look_for_batch(job_id: int, *, settings: Settings, provider: BatchProvider | None = None) -> Found:
    """Look for the batch an earlier create may have made, and adopt it; never send one.

    Raises ProviderError (or ConfigError) when the provider could not tell.
    """
    job = load_job(job_id)
    if job is None or not job.is_submitting:
        return Adopted([])  # adopted, canceled or failed meanwhile: nothing to decide
    meta = job.metadata or {}
    if not meta.get(jm.DISPLAY_NAME):
        return NotFound()  # no attempt was ever claimed: nothing can have been sent
    provider = provider_for(job, settings, provider)
    found = reconcile(job, meta, provider, settings)
    if found.batch is not None:
        return Adopted(_adopt(job, meta, found.batch, provider, settings, reconciled=True))
    if found.ambiguous:
        return Pending(_ambiguous(job, meta, found, settings, utcnow()))
    return NotFound()


def give_up(
    job_id: int,
    reason: str,
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
    recheck: bool = False,
    now: datetime | None = None,
) -> GiveUp:
    """Submit gave up (retries exhausted, a permanent error): fail the job only once the
    provider shows no batch an attempt may have made.

    No create ever left → fail. Another attempt holds the lease → it decides. Otherwise
    ``look_for_batch``: a batch found is adopted (the job goes on to poll); none found →
    fail, but a create sent less than ``SEOBATCH_SUBMIT_SETTLE`` ago may not be listed
    yet, so the verdict waits for one more look (``recheck``) after that time. A lookup
    that fails leaves the job ``submitting`` for the recovery sweep and logs an error:
    never a failed job with a paid orphan.
    """
    job = load_job(job_id)
    if job is None or not job.is_submitting:
        # Never past submitting: nothing was sent. (Adopted, canceled or failed meanwhile: a no-op.)
        fail_job(job_id, reason, settings=settings, expected=(JobStatus.COLLECTING,))
        return DONE
    meta = job.metadata or {}
    now = now or utcnow()
    sent = parse_stamp(meta.get(jm.SUBMIT_SENT_AT))
    if sent is None:
        fail_job(job, reason, settings=settings, expected=(JobStatus.SUBMITTING,))
        return DONE
    lease = parse_stamp(meta.get(jm.SUBMIT_LEASE_UNTIL))
    if lease is not None and lease > now:
        log.info("job %s: another submit attempt holds the lease; it decides (%s)", job_id, reason)
        return DONE
    try:
        found = look_for_batch(job_id, settings=settings, provider=provider)
    except (ProviderError, ConfigError) as exc:
        log.error(
            "job %s needs attention: %s; an earlier create may have reached the provider and "
            "looking for its batch failed (%s): the job stays submitting for the recovery sweep",
            job_id, reason, safe_reason(exc, settings),
        )
        return DONE
    if not isinstance(found, NotFound):
        log.warning("job %s: %s, but its batch was found at the provider; carrying on", job_id, reason)
        return GiveUp(steps=tuple(found.steps))
    wait = settings.submit_settle_seconds - (now - sent).total_seconds()
    if wait > 0 and not recheck:
        log.info("job %s: no batch listed yet; looking once more in %.0fs before failing it", job_id, wait)
        return GiveUp(look_again_ms=int(wait * 1000) + 1)
    fail_job(job, reason, settings=settings, expected=(JobStatus.SUBMITTING,))
    return DONE


def _ambiguous(
    job: SeoBatchJob, meta: dict[str, Any], found: Reconciled, settings: Settings, now: datetime
) -> list[Step]:
    """Adopt nothing and send nothing: look again later; past the bound, fail for review."""
    since = parse_stamp(meta.get(jm.RECONCILE_AMBIGUOUS_SINCE)) or now
    tries = int(meta.get(jm.RECONCILE_AMBIGUOUS_TRIES) or 0) + 1
    if tries >= AMBIGUOUS_MIN_TRIES and (now - since).total_seconds() >= give_up_after(settings):
        update_metadata(job.id, expected=(JobStatus.SUBMITTING,), changes={
            jm.RECONCILE_UNRESOLVED: True, jm.RECONCILE_CANDIDATES: list(found.candidates),
        })
        fail_job(job, found.describe(), settings=settings, expected=(JobStatus.SUBMITTING,))  # logs a warning
        return []
    update_metadata(job.id, expected=(JobStatus.SUBMITTING,), changes={
        jm.RECONCILE_AMBIGUOUS_SINCE: stamp(since),
        jm.RECONCILE_AMBIGUOUS_TRIES: tries,
        jm.RECONCILE_CANDIDATES: list(found.candidates),
    })
    log.warning("job %s: reconciliation is ambiguous (candidates %s); looking again in %ds",
                job.id, ", ".join(found.candidates), AMBIGUOUS_RETRY_SECONDS)
    return [Step("submit", job.id, delay_ms=AMBIGUOUS_RETRY_SECONDS * 1000)]


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
        if reconciled:
            # Another job recorded it between our search and now: look again (it is
            # excluded next time); never send while our own batch may exist.
            log.warning("job %s: batch %s was just recorded by job %s; reconciling again",
                        job.id, info.id, owner.id)
            return [Step("submit", job.id, delay_ms=1000)]
        fail_job(
            job,
            f"the provider returned batch {info.id}, which belongs to job {owner.id}; "
            "not sending again — check the provider's batch list",
            settings=settings,
            expected=(JobStatus.SUBMITTING,),
        )
        return []
    now = utcnow()
    extra = {
        jm.DISPLAY_NAME: meta[jm.DISPLAY_NAME],
        jm.PROVIDER_STATE: info.provider_state,
        jm.SUBMIT_LEASE_UNTIL: None,
        jm.NEXT_POLL_AT: later(now, settings.poll_interval),
    }
    if reconciled:
        extra[jm.RECONCILED] = True
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
    update_metadata(job.id, expected=STATUSES, changes=orphan_changes(current.metadata if current else None, info.id))
    try:
        provider.cancel_batch(info.id)
    except ProviderError as exc:
        log.error("job %s: could not cancel orphan batch %s: %s", job.id, info.id, exc)
    return []
