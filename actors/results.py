"""results(job_id): save the batch's results in bulk and complete the job."""

from __future__ import annotations

import dramatiq

from ._run import run_stage
from .broker import QUEUE


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=8,
    min_backoff=5_000,
    max_backoff=600_000,
    time_limit=60 * 60_000,
    on_retry_exhausted="job_gave_up",
)
def results(job_id: int) -> None:
    run_stage("results", job_id)
