"""failover: will a running batch be done by the morning deadline, or should its pages move?

The policy of shared/provider-apis-openai.md §3.4, reduced to what the pipeline knows:

- the deadline ``D`` is the first ``SEOBATCH_DEADLINE`` (a time of day in a zone) after
  the job was submitted; ``M`` is ``SEOBATCH_DEADLINE_MARGIN``;
- the fallback ``F`` is the model ``SEOBATCH_FAILOVER_MODEL`` names for the batch's
  provider; its expected turnaround is the p95 of its own completed jobs (one aggregate
  query), a prior per provider until there are ``MIN_HISTORY`` of them;
- give-up time = D − M − turnaround(F) − settle(P), settle being how long a cancel takes
  to land at the batch's provider;
- the batch's finish is projected from its progress (finished ÷ total over the time since
  it was submitted); with no progress to go by (it has not started, or the provider
  reports none, as Anthropic's counts) from its own expected turnaround;
- fail over when the projection lands after the give-up time *and* the fallback would
  finish sooner than the projection; never while the provider is finalizing (the results
  are nearly bought).

The protocol (one hop: a failover job does not fail over again):

1. ``check`` (from poll, batch still running): decide; when failing over, record the
   decision on the job *before* the cancel, then cancel. Polling goes on.
2. the cancel settles: poll sees the batch ended, results saves every result that
   finished and completes the job (canceled items are charged no attempt). A cancel
   that has not settled ``SEOBATCH_FAILOVER_SETTLE`` minutes after it was sent fails the
   job instead (``unsettled``): nothing moves while the batch may still run.
3. ``hand_over`` (from results, once completed; or from the recovery sweep when the
   worker died in between, ``pending_hand_overs``): in one transaction on the locked
   job row, a new collecting job of the fallback model restricted to this job's pages
   without a result (``FAILOVER_OF``), the link and the stamp on this job
   (``FAILOVER_JOB_ID``, ``FAILOVER_HANDED_OVER``) and the ``job_failed_over`` event. A
   page is never in two live attempts: the new job exists only after the old batch
   ended and its results were saved; and it exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from peewee import Case, fn

from .. import db as _db
from .. import jobmeta as jm
from .. import outbox
from ..config import parse_deadline
from ..jobmeta import JobStatus
from ..models import SeoBatchJob
from ..routing import provider_for_model
from ._common import log, parse_stamp, request_cancel, stamp
from .jobstate import fail_job, update_metadata
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchInfo, BatchProvider

#: Turnaround (submitted → results saved) assumed until a model has history, per provider
#: (§3.4's priors: "most Anthropic batches finish in less than an hour"; 6 h for the others).
PRIOR_TURNAROUND_HOURS = {"anthropic": 1.0, "gemini": 6.0, "openai": 6.0}
#: Cancel → ended, per provider: OpenAI documents ≤10 min; the others are unmeasured.
SETTLE_MINUTES = {"openai": 10.0, "anthropic": 15.0, "gemini": 15.0}
#: The percentile of past turnarounds that is "expected", over this many recent jobs;
#: fewer than ``MIN_HISTORY`` of them and the prior is used.
PERCENTILE = 0.95
HISTORY_JOBS = 50
MIN_HISTORY = 5
#: Provider states in which a batch is writing its results: never canceled then.
FINALIZING = frozenset({"finalizing"})
#: Provider states of a batch that has not started running.
NOT_STARTED = frozenset({"validating", "BATCH_STATE_PENDING", "JOB_STATE_PENDING", "JOB_STATE_QUEUED"})


def deadline_after(spec: str, start: datetime) -> datetime:
    """The first time ``spec`` ("07:00 Europe/Berlin") comes after ``start`` (naive UTC),
    as naive UTC. Day arithmetic is in the deadline's zone, so a DST change is honoured."""
    at, tz = parse_deadline(spec)
    local = start.replace(tzinfo=UTC).astimezone(tz)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)
    if candidate <= local:
        candidate = (candidate.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return candidate.astimezone(UTC).replace(tzinfo=None)


def fallback_model(settings: Settings, provider: str) -> str | None:
    """The model a late batch of ``provider`` moves to; None when there is none, or it
    routes back to the same provider (that would not get the pages out of the incident)."""
    model = dict(settings.failover_models).get(provider)
    if not model or provider_for_model(model, settings) in (None, provider):
        return None
    return model


@dataclass(frozen=True)
class Estimate:
    """An expected turnaround, and where it came from."""

    seconds: float
    source: str  #: "history" or "prior"
    jobs: int  #: completed jobs it was learnt from (0 for the prior)


def expected_turnaround(model: str, *, percentile: float = PERCENTILE, history: int = HISTORY_JOBS) -> Estimate:
    """The ``percentile`` (nearest rank) of ``model``'s last ``history`` completed jobs'
    turnarounds, in one aggregate query; the provider's prior with too little history."""
    job = SeoBatchJob
    recent = (
        job.select(_db.seconds_between(job.submitted_at, job.completed_at).alias("seconds"))
        .where((job.model == model) & (job.status == JobStatus.COMPLETED)
               & job.submitted_at.is_null(False) & job.completed_at.is_null(False))
        .order_by(job.completed_at.desc())
        .limit(history)
        .alias("recent")
    )
    ranked = (
        recent.select_from(recent.c.seconds, fn.cume_dist().over(order_by=[recent.c.seconds]).alias("rank"))
        .alias("ranked")
    )
    value, count = (
        ranked.select_from(fn.MIN(Case(None, [(ranked.c.rank >= percentile, ranked.c.seconds)], None)),
                           fn.COUNT(ranked.c.seconds))
        .tuples()
        .get()
    )
    if count >= MIN_HISTORY and value is not None:
        return Estimate(float(value), "history", int(count))
    prior = PRIOR_TURNAROUND_HOURS.get(provider_for_model(model) or "", 6.0)
    return Estimate(prior * 3600, "prior", int(count or 0))


def projected_finish(
    now: datetime, submitted_at: datetime, counts: dict[str, int], provider_state: str, own_seconds: float
) -> tuple[datetime, str]:
    """When the batch should end, and how that was judged ("progress" or "turnaround")."""
    done = sum(int(counts.get(k) or 0) for k in ("succeeded", "errored", "canceled", "expired"))
    total = done + int(counts.get("processing") or 0)
    if done > 0 and total > 0 and provider_state not in NOT_STARTED:
        elapsed = max((now - submitted_at).total_seconds(), 0.0)
        return submitted_at + timedelta(seconds=elapsed * total / done), "progress"
    # No progress to go by: a batch that has not started has its whole turnaround ahead;
    # one running without counts (Anthropic) is expected at submitted + turnaround.
    start = now if provider_state in NOT_STARTED else submitted_at
    return max(start + timedelta(seconds=own_seconds), now), "turnaround"


@dataclass(frozen=True)
class Decision:
    """Whether to fail over now, why, and the figures it rests on (recorded on the job)."""

    fail_over: bool
    reason: str  #: "stuck_pending", "late", "on_time", "finalizing", "fallback_not_sooner"
    inputs: dict[str, Any]


def decide(
    *,
    now: datetime,
    submitted_at: datetime,
    deadline: datetime,
    margin_minutes: float,
    provider: str,
    provider_state: str,
    counts: dict[str, int],
    own: Estimate,
    fallback: Estimate,
) -> Decision:
    """The failover rule of this module's docstring (all datetimes naive UTC)."""
    settle = SETTLE_MINUTES.get(provider, 15.0) * 60
    give_up = deadline - timedelta(minutes=margin_minutes, seconds=fallback.seconds + settle)
    finish, basis = projected_finish(now, submitted_at, counts, provider_state, own.seconds)
    fallback_done = now + timedelta(seconds=settle + fallback.seconds)
    inputs = {
        "now": _db.iso(now), "deadline": _db.iso(deadline), "margin_minutes": margin_minutes,
        "give_up_at": _db.iso(give_up), "projected_finish": _db.iso(finish), "projected_by": basis,
        "provider_state": provider_state, "settle_seconds": settle,
        "fallback_turnaround_seconds": round(fallback.seconds, 1), "fallback_estimate": fallback.source,
        "fallback_history_jobs": fallback.jobs, "own_turnaround_seconds": round(own.seconds, 1),
        "own_estimate": own.source,
    }
    if provider_state in FINALIZING:
        return Decision(False, "finalizing", inputs)
    if finish <= give_up:
        return Decision(False, "on_time", inputs)
    if fallback_done >= finish:
        return Decision(False, "fallback_not_sooner", inputs)
    return Decision(True, "stuck_pending" if provider_state in NOT_STARTED else "late", inputs)


def check(
    job: SeoBatchJob,
    info: BatchInfo,
    provider: BatchProvider,
    settings: Settings,
    now: datetime,
    changes: dict[str, object],
) -> bool:
    """Poll's hook for a running batch: decide, record, cancel (adds to ``changes``).
    True when the job was failed: its cancel did not settle within the cap (``unsettled``)."""
    meta = job.metadata or {}
    if not settings.deadline or job.submitted_at is None or meta.get(jm.FAILOVER_OF) or not job.ai_batch_id:
        return False
    decided = meta.get(jm.FAILOVER)
    if not decided:
        target = fallback_model(settings, job.provider or "")
        if target is None:
            return False
        decision = decide(
            now=now, submitted_at=job.submitted_at, deadline=deadline_after(settings.deadline, job.submitted_at),
            margin_minutes=settings.deadline_margin_minutes, provider=job.provider or "",
            provider_state=info.provider_state, counts=dict(info.counts or {}),
            own=expected_turnaround(job.model), fallback=expected_turnaround(target),
        )
        if not decision.fail_over:
            return False
        record = {"reason": decision.reason, "decided_at": stamp(now), "to_model": target, **decision.inputs}
        # Durable before the provider hears of it: a crash after the cancel still knows why.
        if update_metadata(job.id, expected=(JobStatus.PROCESSING,), changes={jm.FAILOVER: record},
                           if_meta={jm.FAILOVER: None}) is None:
            return False
        changes[jm.FAILOVER] = record
        log.warning("job %s: batch %s will not be done by %s (%s); canceling it, its pages without a "
                    "result move to %s", job.id, job.ai_batch_id, record["deadline"], decision.reason, target)
    elif isinstance(decided, dict) and meta.get(jm.CANCEL_REQUESTED):
        return unsettled(job, decided, info, settings, now)
    request_cancel(job, meta, provider, now, changes, "failover")
    return False


def unsettled(job: SeoBatchJob, decided: dict[str, Any], info: BatchInfo, settings: Settings, now: datetime) -> bool:
    """The failover's cancel was sent and the batch still runs: past
    ``SEOBATCH_FAILOVER_SETTLE`` minutes, fail the job (True), its pages not moved.

    Moving them is never provably safe while the provider may still run the batch: any
    page without a result could yet be run (and billed) there as well as at the fallback.
    So the wait is capped, the outcome recorded in the decision, and the job fails with
    the reason (``seobatch job ID``, the ``job_failed`` event); its pages are collected
    again on the next run, as after the poll watchdog."""
    sent = parse_stamp((job.metadata or {}).get(jm.CANCEL_REQUESTED))
    cap = timedelta(minutes=settings.failover_settle_minutes)
    if sent is None or now - sent < cap:
        return False
    record = {**decided, "settle": "timeout", "settle_waited_minutes": round((now - sent).total_seconds() / 60, 1),
              "unsettled_state": info.provider_state}
    if update_metadata(job.id, expected=(JobStatus.PROCESSING,), changes={jm.FAILOVER: record}) is None:
        return True  # ended meanwhile: nothing for this poll to do
    reason = (
        f"failover_unsettled: batch {job.ai_batch_id} was canceled at {stamp(sent)} to move its pages to "
        f"{decided.get('to_model')} ({decided.get('reason')}), but {settings.failover_settle_minutes} min later it "
        f"had still not ended (provider state {info.provider_state}); its pages were not moved, as they could "
        "then be paid for twice. They are collected again on the next run"
    )
    fail_job(job, reason, settings=settings, expected=(JobStatus.PROCESSING,))
    return True


def hand_over(job_id: int, settings: Settings | None = None) -> list[Step]:
    """After results: start the fallback job for the pages without a result (once).

    Idempotent: the job row is locked, and the hand-over is stamped on it in the same
    transaction (``FAILOVER_HANDED_OVER``), so a results stage run again, a redelivery
    and two recovery sweeps (``pending_hand_overs``) make at most one fallback job."""
    job = SeoBatchJob
    with _db.write_transaction():
        row = _db.lock_for_update(job.select().where(job.id == job_id)).first()
        meta = (row.metadata or {}) if row is not None else {}
        decision = meta.get(jm.FAILOVER)
        if row is None or row.status != JobStatus.COMPLETED or not isinstance(decision, dict) \
                or meta.get(jm.FAILOVER_JOB_ID) or meta.get(jm.FAILOVER_HANDED_OVER):
            return []
        done = {jm.FAILOVER_HANDED_OVER: stamp(_db.utcnow())}
        if not row.expired_count and not row.errored_count:
            # every page finished before the cancel landed: nothing to move
            job.update(metadata={**meta, **done}).where(job.id == row.id).execute()
            return []
        inherited = {k: meta[k] for k in jm.INHERITED if k in meta and k != jm.PROVIDER}
        to_model = decision["to_model"]
        provider = provider_for_model(to_model, settings)
        nxt = job.create(model=to_model, status=JobStatus.COLLECTING, metadata={
            **inherited, jm.KICKED_OFF_AT: stamp(_db.utcnow()), jm.FAILOVER_OF: row.id, jm.PREVIOUS_JOB_ID: row.id,
            **({jm.PROVIDER: provider} if provider else {}),
        })
        job.update(metadata={**meta, **done, jm.FAILOVER_JOB_ID: nxt.id}).where(job.id == row.id).execute()
        outbox.record(row, "job_failed_over", reason=decision.get("reason"), failover_job_id=nxt.id,
                      failover_model=nxt.model)
    log.info("job %s failed over to job %s (%s)", job_id, nxt.id, nxt.model)
    return [Step("collect", nxt.id)]


#: A hand-over the results stage did not finish (its worker died between completing the
#: job and making the fallback job) is finished by the sweep within this long after the
#: job completed; later, the next night's run collects those pages itself (a canceled
#: item costs a page no attempt), and a late fallback job would only compete with it.
HAND_OVER_WINDOW = timedelta(hours=24)


def pending_hand_overs(now: datetime) -> list[tuple[int, datetime]]:
    """(id, completed_at) of the jobs completed within ``HAND_OVER_WINDOW`` with a
    failover decision whose hand-over was never made: one query, the keys tested in SQL
    (a sweep reads no job's metadata that has nothing to hand over)."""
    job, meta = SeoBatchJob, SeoBatchJob.metadata
    query = (
        job.select(job.id, job.completed_at)
        .where((job.status == JobStatus.COMPLETED) & (job.completed_at >= now - HAND_OVER_WINDOW)
               & _db.json_text(meta, jm.FAILOVER).is_null(False) & _db.json_text(meta, jm.FAILOVER_JOB_ID).is_null()
               & _db.json_text(meta, jm.FAILOVER_HANDED_OVER).is_null())
        .order_by(job.id)
    )
    return [(job_id, completed_at) for job_id, completed_at in _db.tuples(query)]
