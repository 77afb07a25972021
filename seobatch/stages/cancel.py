"""cancel: stop a job, and its provider batch if it has one.

- Before submission (``collecting``, ``submitting``): the job is marked failed with
  "canceled by operator". If an earlier create attempt may have reached the provider,
  its batch is looked up with the same owner-aware ``reconcile`` as submit's and
  canceled — never a batch recorded on another job; when the search is ambiguous
  nothing is canceled and the message says which batches need a person's look. A
  create still in flight cancels its own batch when it finds the job failed (see
  ``submit``).
- ``processing``: the provider batch is canceled and ``cancel_requested`` recorded; the
  next poll sees the batch end and the results stage saves what finished before the
  cancel. The job then ends ``completed`` — successes are kept and the canceled items
  are counted — rather than ``failed``, because the pipeline did not fail: the operator
  stopped it, and the counts say exactly what happened.
- ``completed`` / ``failed``: nothing to cancel (an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from ..db import utcnow
from ..errors import ProviderError, SeobatchError
from ..jobmeta import JobStatus
from ._common import load_job, log, provider_for, stamp
from .jobstate import fail_job, update_metadata
from .step import Step
from .reconcile import needs_reconcile, reconcile, record_orphan

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider

CANCELED_REASON = "canceled by operator"


@dataclass
class Canceled:
    message: str
    steps: list[Step] = field(default_factory=list)


def cancel(job_id: int, *, settings: Settings, provider: BatchProvider | None = None) -> Canceled:
    """Cancel job ``job_id``; raises SeobatchError when there is nothing to cancel."""
    job = load_job(job_id)
    if job is None:
        raise SeobatchError(f"there is no job {job_id}")
    before_submission = (JobStatus.COLLECTING, JobStatus.SUBMITTING)
    if job.status in before_submission:
        if fail_job(job, CANCELED_REASON, settings=settings, expected=before_submission):
            note = _cancel_unclear_create(job, settings, provider)
            return Canceled(f"job {job_id} canceled before submission{note}")
        job = load_job(job_id)  # it moved on while we looked: cancel it where it is now
        assert job is not None
    if job.is_processing and job.ai_batch_id:
        provider = provider_for(job, settings, provider)
        provider.cancel_batch(job.ai_batch_id)
        meta = update_metadata(
            job_id,
            expected=(JobStatus.PROCESSING,),
            changes={jm.CANCEL_REQUESTED: stamp(utcnow()), jm.NEXT_POLL_AT: None},
        )
        if meta is not None:
            return Canceled(
                f"job {job_id}: cancel of batch {job.ai_batch_id} requested; the job ends "
                "once the provider has stopped it",
                [Step("poll", job_id)],
            )
        job = load_job(job_id)
        assert job is not None
    raise SeobatchError(f"job {job_id} is already {job.status}; there is nothing to cancel")


def _cancel_unclear_create(job, settings: Settings, provider: BatchProvider | None) -> str:
    """An earlier create may have made a batch we never recorded: find it and cancel it."""
    meta = job.metadata or {}
    if not meta.get(jm.SUBMIT_STARTED_AT) or not meta.get(jm.DISPLAY_NAME) or not needs_reconcile(meta):
        return ""
    try:
        provider = provider_for(job, settings, provider)
        found = reconcile(job, meta, provider, settings)
        if found.ambiguous:
            log.warning("job %s: %s", job.id, found.describe())
            _unresolved(job.id, list(found.candidates))
            return f"; {found.describe()}"
        if found.batch is None:
            return ""
        provider.cancel_batch(found.batch.id)
    except ProviderError as exc:
        log.error("job %s: could not look for or cancel its batch: %s", job.id, exc)
        _unresolved(job.id, [])
        return "; its provider batch may still exist (lookup failed, see the log)"
    record_orphan(job.id, found.batch.id, expected=(JobStatus.FAILED,))
    return f"; its provider batch {found.batch.id} was canceled"


def _unresolved(job_id: int, candidates: list[str]) -> None:
    """Keep the canceled job a rival in other jobs' reconciliation: its batch may exist."""
    update_metadata(job_id, expected=(JobStatus.FAILED,), changes={
        jm.RECONCILE_UNRESOLVED: True, jm.RECONCILE_CANDIDATES: candidates or None,
    })
