"""collect(job_id): build the job's items; then submit (and collect the run's next job)."""

from __future__ import annotations

import dramatiq

from ._run import run_stage
from .broker import QUEUE


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=5,
    min_backoff=2_000,
    max_backoff=300_000,
    time_limit=30 * 60_000,
    on_retry_exhausted="job_gave_up",
)
def collect(job_id: int) -> None:
    run_stage("collect", job_id)
