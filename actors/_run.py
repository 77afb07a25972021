"""How an actor runs its stage: errors sorted into "fail the job" and "retry"."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import dramatiq

from seobatch.errors import ConfigError, PermanentError, TransientError, ValidationError
from seobatch.logs import redact
from seobatch.models import SeoBatchJob
from seobatch.stages import Step

from .broker import runtime

log = logging.getLogger("seobatch.worker")

#: Longest wait a provider's ``retry-after`` may impose on one retry.
MAX_RETRY_AFTER_SECONDS = 3600

Stage = Callable[..., list[Step]]


def run_stage(stage: Stage, job_id: int, *, name: str) -> None:
    """Run ``stage`` for ``job_id`` and send its next steps once it has committed.

    A permanent error (or bad configuration) fails the job here, with its reason, and
    the message ends without a retry. A transient error propagates to Dramatiq's
    Retries middleware (honouring the provider's ``retry-after``); when the retries run
    out, ``job_gave_up`` fails the job.
    """
    settings = runtime.settings
    try:
        steps = stage(job_id, settings=settings)
    except (PermanentError, ConfigError, ValidationError) as exc:
        fail(job_id, f"{name}: {exc}")
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


def fail(job_id: int, reason: str) -> bool:
    """Mark the job failed with a readable, secret-free reason (job_failed after commit)."""
    reason = redact(reason, runtime.settings.secrets())
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    if job is None or not job.is_active:
        return False
    won = job.mark_failed(reason)
    if won:
        log.warning("job %s failed: %s", job_id, reason)
    return won
