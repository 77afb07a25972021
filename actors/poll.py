"""poll(job_id): ask the provider; poll again later (a fresh delayed message) or read results."""

from __future__ import annotations

import dramatiq

from ._run import run_stage
from .broker import QUEUE


# Generous retries: the batch is paid for, so a provider outage while polling delays
# the job; when they run out it stays processing for the recovery sweep (stages/giveup.py).
@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=12,
    min_backoff=5_000,
    max_backoff=900_000,
    time_limit=2 * 60_000,
    on_retry_exhausted="job_gave_up",
)
def poll(job_id: int) -> None:
    run_stage("poll", job_id)
