"""What the stages share: loading a job, its provider, the collector lock, limits, stamps.

A job's state changes outside a transition (metadata compare-and-set, failing) live in
``jobstate.py``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import jobmeta as jm
from ..errors import ProviderError
from ..models import SeoBatchJob
from ..providers import anthropic, gemini, get_provider, openai

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider

log = logging.getLogger("seobatch.pipeline")


#: Share of a provider's byte limit a job may fill with request JSON: the client adds an
#: envelope around each request (Anthropic ``{"custom_id","params"}``, Gemini's key/line).
BODY_MARGIN = 0.97


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


def batch_limits(provider: str, settings: Settings, model: str | None = None) -> BatchLimits:
    """The provider's per-batch limits, lowered by the settings when those are smaller.

    The provider modules own their API limits (``MAX_REQUESTS``, ``MAX_BODY_BYTES``); a
    compatible endpoint (``model`` starts with its prefix) has its own ``max_requests``
    (Azure takes 100,000, others fewer), in place of OpenAI's.
    """
    module = {"anthropic": anthropic, "gemini": gemini, "openai": openai}[provider]
    requests, size = module.MAX_REQUESTS, int(module.MAX_BODY_BYTES * BODY_MARGIN)
    compat = settings.compat_for(model) if model else None
    if compat is not None:
        requests = compat.max_requests
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
    return get_provider(job.model, settings)




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


def request_cancel(job: SeoBatchJob, meta: dict[str, Any], provider: BatchProvider, now: datetime,
                   changes: dict[str, object], why: str) -> bool:
    """Ask the provider to cancel the job's batch, once (``meta`` is the job's metadata as
    the poll read it): ``CANCEL_REQUESTED`` goes into ``changes`` when it accepted; a
    refusal is logged and asked again at the next poll. True when it accepted now."""
    if meta.get(jm.CANCEL_REQUESTED):
        return False
    try:
        provider.cancel_batch(job.ai_batch_id)
    except ProviderError as exc:
        log.warning("job %s: could not cancel batch %s for %s (asked again next poll): %s",
                    job.id, job.ai_batch_id, why, exc)
        return False
    changes[jm.CANCEL_REQUESTED] = stamp(now)
    return True


def later(now: datetime, seconds: float) -> str:
    return stamp(now + timedelta(seconds=seconds))
