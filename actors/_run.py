"""How an actor runs its stage: errors sorted into "fail the job", "retry" and "leave it".

A job is failed only when failing cannot lose money: a submitting job whose create may
have reached the provider is failed only after the provider shows no batch for it (else
the batch is adopted, or the job is left ``submitting`` for the recovery sweep); a
processing job (its batch is paid for) is never failed because retries ran out — it
stays ``processing`` and the recovery sweep polls it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import dramatiq

from seobatch.db import utcnow
from seobatch.errors import ConfigError, PermanentError, ProviderError, TransientError, ValidationError
from seobatch.models import SeoBatchJob
from seobatch.stages import Step
from seobatch.stages._common import fail_job, parse_stamp

from .broker import runtime

log = logging.getLogger("seobatch.worker")

#: Longest wait a provider's ``retry-after`` may impose on one retry.
MAX_RETRY_AFTER_SECONDS = 3600

#: Stages whose job has a paid batch: running out of retries leaves the job to the sweep.
PAID_STAGES = ("poll", "results")

Stage = Callable[..., list[Step]]


def run_stage(stage: Stage, job_id: int, *, name: str) -> None:
    """Run ``stage`` for ``job_id`` and send its next steps once it has committed.

    A permanent error (or bad configuration) ends the message without a retry and fails
    the job here, with its reason (see ``give_up`` for when it does not). A transient
    error propagates to Dramatiq's Retries middleware (honouring the provider's
    ``retry-after``); when the retries run out, ``job_gave_up`` calls ``give_up``.
    """
    settings = runtime.settings
    try:
        steps = stage(job_id, settings=settings)
    except (PermanentError, ConfigError, ValidationError) as exc:
        give_up(job_id, name, f"{name}: {exc}", permanent=True)
        return
    except TransientError as exc:
        if exc.retry_after:
            delay = int(min(float(exc.retry_after), MAX_RETRY_AFTER_SECONDS) * 1000)
            raise dramatiq.Retry(str(exc), delay=max(delay, 1)) from exc
        raise
    send_steps(steps)


def send_steps(steps: Iterable[Step]) -> None:
    """Enqueue each step (after the stage's transactions committed)."""
    from . import ACTORS

    for step in steps:
        ACTORS[step.actor].send_with_options(args=(step.job_id,), delay=step.delay_ms or None)


def give_up(job_id: int, stage: str, reason: str, *, permanent: bool, recheck: bool = False) -> None:
    """Stage ``stage`` cannot go on for this job: fail it — unless that could orphan a paid batch.

    - ``submit``: see ``_give_up_submit`` (reconcile first).
    - ``poll``/``results`` out of retries (``permanent`` false): the job stays
      ``processing``; the recovery sweep polls it again once it has been idle.
    - otherwise: the job is failed with ``reason``.
    """
    if stage == "submit":
        _give_up_submit(job_id, reason, recheck=recheck)
    elif stage in PAID_STAGES and not permanent:
        log.error(
            "job %s needs attention: %s; its batch is paid for, so the job stays processing "
            "and the recovery sweep polls it again", job_id, reason,
        )
    else:
        fail(job_id, reason)


def fail(job_id: int, reason: str, *, expected: Iterable[str] | None = None) -> bool:
    """Mark the job failed with a readable, secret-free reason (job_failed after commit)."""
    return fail_job(job_id, reason, settings=runtime.settings, expected=expected)


def _give_up_submit(job_id: int, reason: str, *, recheck: bool) -> None:
    """Fail a submitting job only once the provider shows no batch an attempt may have made.

    No create ever left → fail. Otherwise the submit stage's ``reconcile`` looks: a batch
    found is adopted (the job goes on to poll); none found → fail, but a create sent
    less than ``SEOBATCH_SUBMIT_SETTLE`` ago may not be listed yet, so the verdict waits
    for one more look after that time. A lookup that fails leaves the job ``submitting``
    for the recovery sweep and logs an error: never a failed job with a paid orphan.
    """
    from seobatch.stages import submit as submit_stage

    settings = runtime.settings
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    if job is None or not job.is_submitting:
        fail(job_id, reason, expected=("collecting",))  # never past submitting: nothing was sent
        return  # adopted, canceled or failed meanwhile
    meta = job.metadata or {}
    now = utcnow()
    sent = parse_stamp(meta.get("submit_sent_at"))
    if sent is None:
        fail(job_id, reason, expected=("submitting",))
        return
    lease = parse_stamp(meta.get("submit_lease_until"))
    if lease is not None and lease > now:
        log.info("job %s: another submit attempt holds the lease; it decides (%s)", job_id, reason)
        return
    try:
        steps = submit_stage.reconcile(job_id, settings=settings)
    except (ProviderError, ConfigError) as exc:
        log.error(
            "job %s needs attention: %s; an earlier create may have reached the provider and "
            "looking for its batch failed (%s): the job stays submitting for the recovery sweep",
            job_id, reason, fail_reason(exc, settings),
        )
        return
    if steps is not None:
        log.warning("job %s: %s, but its batch was found at the provider; carrying on", job_id, reason)
        send_steps(steps)
        return
    wait = _settle_left(sent, settings.submit_settle_seconds, now)
    if wait > 0 and not recheck:
        from .failures import job_gave_up

        log.info("job %s: no batch listed yet; looking once more in %.0fs before failing it", job_id, wait)
        job_gave_up.send_with_options(
            args=({"args": [job_id], "actor_name": "submit"}, {"reason": reason, "recheck": True}),
            delay=int(wait * 1000) + 1,
        )
        return
    fail(job_id, reason, expected=("submitting",))


def _settle_left(sent: datetime, settle_seconds: int, now: datetime) -> float:
    return settle_seconds - (now - sent).total_seconds()


def fail_reason(exc: BaseException, settings) -> str:
    from seobatch.logs import redact

    return redact(str(exc), settings.secrets())
