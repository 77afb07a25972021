"""kickoff: start a run of one model — a job in ``collecting`` and its collect message.

Everything that can be refused is refused before a row exists: an unknown model (one
not in the price table nor in SEOBATCH_ALLOW_MODELS), a missing API key, a bad limit. A second
kickoff of a model while one of its jobs is
still collecting is refused too; the check and the insert run under the collector
lock, so two kickoffs at once cannot both pass it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from ..db import collector_lock, utcnow
from ..errors import AlreadyRunning, ConfigError
from ..jobmeta import JobStatus
from ..models import SeoBatchJob
from ..prompts import PromptTemplate
from ..providers import check_model, provider_name
from ._common import log, stamp
from .selection import eligible_pages, next_pages
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class Kickoff:
    job: SeoBatchJob
    steps: list[Step] = field(default_factory=list)


def check_run(settings: Settings, model: str | None = None) -> str:
    """The model to run, after checking it is known (``providers.check_model``) and its
    provider's key is set."""
    model = model or settings.model
    compat = settings.compat_for(model)
    if compat is None:
        settings.api_key_for(check_model(model, settings))
    else:
        if not compat.key:
            raise ConfigError(
                f"{compat.key_variable} is not set: the compatible endpoint for {compat.prefix}* needs a key"
            )
    return model


def has_work(settings: Settings, model: str) -> bool:
    """Whether any page needs SEO from ``model`` now, one it is not busy in another job:
    a run that would find none creates no job (and wakes no subscriber)."""
    query = eligible_pages(
        model=model, prompt_version=PromptTemplate.load(settings).version,
        max_attempts=settings.max_attempts, configured_model=settings.model,
    )
    return bool(next_pages(query, after_id=0, limit=1))


def kickoff(
    *,
    settings: Settings,
    model: str | None = None,
    limit: int | None = None,
    max_cost: float | None = None,
    source: str = "cli",
) -> Kickoff:
    """Create the first job of a run; raises ConfigError or AlreadyRunning instead."""
    model = check_run(settings, model)
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if max_cost is not None and max_cost < 0:
        raise ConfigError(f"--max-cost must not be negative, got {max_cost}")
    meta: dict[str, object] = {
        jm.RUN: secrets.token_hex(4),
        jm.KICKED_OFF_AT: stamp(utcnow()),
        jm.KICKED_OFF_BY: source,
        # Routing by the settings (a compatible endpoint's prefix is theirs): known from the start.
        jm.PROVIDER: provider_name(model, settings),
    }
    if limit is not None:
        meta[jm.LIMIT] = limit
    if max_cost is not None:
        meta[jm.MAX_COST] = max_cost
    with collector_lock():
        running = (
            SeoBatchJob.select(SeoBatchJob.id)
            .where((SeoBatchJob.model == model) & (SeoBatchJob.status == JobStatus.COLLECTING))
            .first()
        )
        if running is not None:
            raise AlreadyRunning(
                f"a run of {model} is still collecting (job {running.id}); "
                f"wait for it, or `seobatch cancel {running.id}`"
            )
        job = SeoBatchJob.create(model=model, status=JobStatus.COLLECTING, metadata=meta)
    log.info("kickoff job_id=%s model=%s run=%s", job.id, model, meta[jm.RUN])
    return Kickoff(job, [Step("collect", job.id)])
