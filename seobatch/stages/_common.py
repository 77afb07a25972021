"""What the stages share: loading a job, compare-and-set metadata, locks, limits, clocks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import db as _db
from ..db import database, utcnow
from ..models import SeoBatchJob

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider

log = logging.getLogger("seobatch.pipeline")

#: pg_advisory_xact_lock key that serialises collectors and kickoffs (one page, one job).
COLLECT_LOCK_KEY = 0x5E0BC011

#: Share of a provider's byte limit a job may fill with request JSON: the client adds an
#: envelope around each request (Anthropic ``{"custom_id","params"}``, Gemini's key/line).
BODY_MARGIN = 0.97


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


def batch_limits(provider: str, settings: Settings) -> BatchLimits:
    """The provider's per-batch limits, lowered by the settings when those are smaller.

    The provider modules own their API limits (``MAX_REQUESTS``, ``MAX_BODY_BYTES``).
    """
    from ..providers import anthropic, gemini

    module = {"anthropic": anthropic, "gemini": gemini}[provider]
    requests, size = module.MAX_REQUESTS, int(module.MAX_BODY_BYTES * BODY_MARGIN)
    if settings.batch_max_requests:
        requests = min(requests, settings.batch_max_requests)
    if settings.batch_max_bytes:
        size = min(size, settings.batch_max_bytes)
    return BatchLimits(requests, size)


def load_job(job_id: int) -> SeoBatchJob | None:
    return SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)


def provider_for(job: SeoBatchJob, settings: Settings, provider: BatchProvider | None) -> BatchProvider:
    if provider is not None:
        return provider
    from ..providers import get_provider

    return get_provider(job.model, settings)


def update_metadata(
    job_id: int,
    *,
    expected: Iterable[str],
    changes: dict[str, Any],
    if_meta: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any] | None:
    """Merge ``changes`` into the job's metadata if its status is still one of ``expected``
    (and each key of ``if_meta`` still has that value; None = absent).

    A compare-and-set that keeps the status (``transition`` is for moves): the row is
    locked, so two workers merging at once never lose each other's keys. A value of None
    removes the key. Returns the new metadata, or None when the job had moved on.
    """
    expected = tuple(expected)
    with _db.write_transaction():
        row = _db.lock_for_update(
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.metadata).where(SeoBatchJob.id == job_id)
        ).first()
        if row is None or row.status not in expected:
            return None
        if if_meta and any((row.metadata or {}).get(k) != v for k, v in if_meta.items()):
            return None
        meta = {**(row.metadata or {}), **changes}
        meta = {k: v for k, v in meta.items() if v is not None}
        values = {SeoBatchJob.metadata: meta, SeoBatchJob.updated_at: utcnow()}
        values.update({SeoBatchJob._meta.fields[k]: v for k, v in fields.items()})
        SeoBatchJob.update(values).where(SeoBatchJob.id == job_id).execute()
        return meta


@contextmanager
def collector_lock() -> Iterator[None]:
    """One transaction at a time may choose pages for jobs (collect chunks, kickoffs).

    PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already
    serialises writers. Two collectors therefore never put one page in two active jobs.
    """
    with _db.write_transaction():
        if _db.is_postgres():
            # Keyed by schema too: deployments in two schemas of one database don't wait on each other.
            database.execute_sql(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (COLLECT_LOCK_KEY,)
            )
        yield


def stamp(when: datetime) -> str:
    """A naive-UTC time as stored in metadata (ISO 8601)."""
    return when.isoformat()


def parse_stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        return None


def later(now: datetime, seconds: float) -> str:
    return stamp(now + timedelta(seconds=seconds))


def fail_job(
    job: SeoBatchJob | int,
    reason: str,
    *,
    settings: Settings | None = None,
    expected: Iterable[str] | None = None,
) -> bool:
    """Mark the job failed (emits job_failed after commit) and log the reason once.

    The one way a job fails: the reason is redacted first (the settings' keys and every
    key-shaped string), because it is stored, logged and handed to subscribers.
    """
    from ..logs import redact

    reason = redact(str(reason), settings.secrets() if settings is not None else ())
    if not isinstance(job, SeoBatchJob):
        job = load_job(int(job))
        if job is None:
            return False
    if not job.is_active:
        return False
    won = job.mark_failed(reason, **({"expected": tuple(expected)} if expected else {}))
    if won:
        log.warning("job %s failed: %s", job.id, reason)
    return won
