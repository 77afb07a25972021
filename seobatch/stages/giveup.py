"""When a stage gives up on a job (its retries ran out, or a permanent error).

A job is failed only when failing cannot lose money:

- ``submit``: a job whose create may have reached the provider is failed only after the
  provider shows no batch for it; otherwise the batch is adopted, or the job is left
  ``submitting`` for the recovery sweep (``submit.give_up``).
- ``poll``/``results`` out of retries: the job's batch is paid for, so it stays
  ``processing`` and the recovery sweep polls it again once it has been idle.
- anything else (collect, or a permanent error while polling): the job is failed.

The caller (``actors/``) turns the returned ``GiveUp`` into messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import submit
from ._common import log
from .jobstate import DONE, GiveUp, fail_job

if TYPE_CHECKING:
    from ..config import Settings

#: Stages whose job has a paid batch: running out of retries leaves the job to the sweep.
PAID_STAGES: Final = ("poll", "results")


def give_up(job_id: int, stage: str, reason: str, *, settings: Settings, permanent: bool) -> GiveUp:
    """Stage ``stage`` cannot go on for this job: fail it, unless that could orphan a paid batch."""
    if stage == "submit":
        return submit.give_up(job_id, reason, settings=settings)
    if stage in PAID_STAGES and not permanent:
        log.error(
            "job %s needs attention: %s; its batch is paid for, so the job stays processing "
            "and the recovery sweep polls it again", job_id, reason,
        )
        return DONE
    fail_job(job_id, reason, settings=settings)
    return DONE
