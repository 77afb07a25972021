"""poll: ask the provider how the batch is doing; poll again later, or read the results.

"Later" is a fresh delayed message whose delay grows from ``SEOBATCH_POLL_INTERVAL``
by half each time up to ``SEOBATCH_POLL_MAX_INTERVAL``: no worker sleeps, and no retry
is spent. The time of the next poll is kept in the job's metadata (``next_poll_at``);
a poll message that arrives well before it is a duplicate (a redelivery, a recovery
sweep racing a live chain) and does nothing, so two poll chains never run side by side.

The update of ``next_poll_at`` is a compare-and-set on the value the poll read: two
poll messages due at once (duplicate chains) both ask the provider, but only one
schedules the next poll, so the chains collapse into one.

A watchdog: a batch still running long after the provider should have expired it
(``SEOBATCH_BATCH_DEADLINE_HOURS``; by default its expiry plus 2 h) is canceled, and
polling goes on so that the results stage saves what finished before the cancel (as
after an operator's cancel). The job is failed only when the batch has still not ended
``WATCHDOG_MARGIN_HOURS`` after that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from ..db import utcnow
from ..jobmeta import JobStatus
from . import failover
from ._common import later, load_job, log, parse_stamp, provider_for, request_cancel, stamp
from .jobstate import fail_job, update_metadata
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import SeoBatchJob
    from ..providers.base import BatchInfo, BatchProvider

#: A delayed message may be a little early by another host's clock; never by more.
EARLY_TOLERANCE_SECONDS = 1.0
#: Each wait is this much longer than the one before.
BACKOFF_FACTOR = 1.5
#: Hours after which each provider expires a batch that has not finished.
PROVIDER_EXPIRY_HOURS = {"anthropic": 24, "gemini": 48, "openai": 24}
#: The watchdog waits this much longer for the provider to say so itself.
WATCHDOG_MARGIN_HOURS = 2


def poll_delay(polls: int, settings: Settings) -> float:
    """Seconds to wait after the ``polls``-th poll found the batch still running."""
    delay = settings.poll_interval * BACKOFF_FACTOR ** max(0, polls - 1)
    return float(min(delay, max(settings.poll_max_interval, settings.poll_interval)))


def poll(
    job_id: int,
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
    now: datetime | None = None,
) -> list[Step]:
    """Check the job's batch; returns a later poll, or the results step once it ended."""
    job = load_job(job_id)
    if job is None or not job.is_processing or not job.ai_batch_id:
        return []
    now = now or utcnow()
    meta = job.metadata or {}
    previous = meta.get(jm.NEXT_POLL_AT)
    due = parse_stamp(previous)
    if due is not None and (due - now).total_seconds() > EARLY_TOLERANCE_SECONDS:
        return []  # a duplicate: the live chain polls at ``due``
    provider = provider_for(job, settings, provider)
    info = provider.get_batch(job.ai_batch_id)
    changes = _observed(info, now)
    unchanged = {jm.NEXT_POLL_AT: previous}  # lost to a duplicate chain → end this one
    if info.state == "ended":
        changes[jm.NEXT_POLL_AT] = None
        if update_metadata(job_id, expected=(JobStatus.PROCESSING,), changes=changes, if_meta=unchanged) is None:
            return []
        return [Step("results", job_id)]
    if failover.check(job, info, provider, settings, now, changes):
        return []  # failed: its failover's cancel never settled
    if _overdue(job, settings, now) and _watchdog(job, meta, provider, settings, now, changes):
        return []
    polls = int(meta.get(jm.POLLS) or 0) + 1
    delay = poll_delay(polls, settings)
    changes.update({jm.POLLS: polls, jm.NEXT_POLL_AT: later(now, delay)})
    if update_metadata(job_id, expected=(JobStatus.PROCESSING,), changes=changes, if_meta=unchanged) is None:
        return []
    return [Step("poll", job_id, delay_ms=int(delay * 1000))]


def deadline_hours(provider: str, settings: Settings) -> float:
    """How long a batch may run before the watchdog stops waiting for it: the provider's
    own limit (Anthropic expires batches after 24 h, Gemini after 48 h) plus a margin."""
    if settings.batch_deadline_hours:
        return settings.batch_deadline_hours
    return PROVIDER_EXPIRY_HOURS.get(provider, 48) + WATCHDOG_MARGIN_HOURS


def _overdue(job: SeoBatchJob, settings: Settings, now: datetime) -> bool:
    hours = deadline_hours(job.provider or "", settings)
    return job.submitted_at is not None and now - job.submitted_at > timedelta(hours=hours)


def _watchdog(
    job: SeoBatchJob,
    meta: dict[str, object],
    provider: BatchProvider,
    settings: Settings,
    now: datetime,
    changes: dict[str, object],
) -> bool:
    """The batch is overdue: cancel it (once it is accepted), keep polling; True when the
    job was failed because the batch did not end within the margin after the cancel."""
    first = parse_stamp(meta.get(jm.WATCHDOG_AT))
    if first is None:
        first = now
        changes[jm.WATCHDOG_AT] = stamp(now)
    if now - first > timedelta(hours=WATCHDOG_MARGIN_HOURS):
        hours = deadline_hours(job.provider or "", settings)
        reason = (
            f"watchdog: the provider's batch {job.ai_batch_id} had not ended {hours:g} h after it "
            f"was sent and was canceled; it still had not ended {WATCHDOG_MARGIN_HOURS} h later. "
            "Its pages are collected again on the next run"
        )
        fail_job(job, reason, settings=settings, expected=(JobStatus.PROCESSING,))
        return True
    if request_cancel(job, meta, provider, now, changes, "running past its deadline"):
        log.warning("job %s: batch %s has run past its deadline; canceled, its finished "
                    "results are saved once it ends", job.id, job.ai_batch_id)
    return False


def _observed(info: BatchInfo, now: datetime) -> dict[str, object]:
    return {
        jm.PROVIDER_STATE: info.provider_state,
        jm.PROVIDER_COUNTS: dict(info.counts or {}),
        jm.ENDING: info.ending,
        jm.POLLED_AT: stamp(now),
    }
