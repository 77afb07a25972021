"""A Step: the message a stage asks to be sent once it has committed; and the stage names.

Its own module so that the stage modules and the registry in ``stages/__init__.py``
import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..jobmeta import JobStatus

#: The stages a Step may name, in pipeline order (``STAGES`` maps each to its function).
STAGE_NAMES: Final = ("collect", "submit", "poll", "results")

#: The stage that moves a job on from each active status: the recovery sweep enqueues it
#: again for a job that stalled there (each picks its job up idempotently).
STAGE_FOR: Final = {
    JobStatus.COLLECTING: "collect",  # resumes after the job's cursor
    JobStatus.SUBMITTING: "submit",  # reconciles with the provider before sending anything
    JobStatus.PROCESSING: "poll",  # asks the provider; a duplicate poll chain dies out
}


@dataclass(frozen=True)
class Step:
    """A message to send once the stage has committed: ``actor(job_id)`` after ``delay_ms``."""

    actor: str
    job_id: int
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.actor not in STAGE_NAMES:
            raise ValueError(f"unknown stage actor {self.actor!r}")
