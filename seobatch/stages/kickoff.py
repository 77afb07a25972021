"""kickoff: start a run of one model — a job in ``collecting`` and its collect message.

Everything that can be refused is refused before a row exists: an unknown model, a
missing API key, a bad limit. A second kickoff of a model while one of its jobs is
still collecting is refused too; the check and the insert run under the collector
lock, so two kickoffs at once cannot both pass it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from ..db import utcnow
from ..errors import AlreadyRunning, ConfigError
from ..jobmeta import JobStatus
from ..models import SeoBatchJob
from ..providers import provider_name
from ._common import collector_lock, log, stamp
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings


@dataclass
class Kickoff:
    job: SeoBatchJob
    steps: list[Step] = field(default_factory=list)


def check_run(settings: Settings, model: str | None = None) -> str:
    """The model to run, after checking its provider is known and its key is set."""
    model = model or settings.model
    name = provider_name(model, settings)
    compat = settings.compat_for(model)
    if compat is not None and not compat.key:
        raise ConfigError(f"{compat.key_variable} is not set: the compatible endpoint for {compat.prefix}* needs a key")
    if compat is None:
        settings.api_key_for(name)
    return model


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
