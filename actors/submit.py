"""submit(job_id): send or adopt the job's batch (lease, reconcile); then poll."""

from __future__ import annotations

import dramatiq

from ._run import run_stage
from .broker import QUEUE
from .runtime import runtime


# The time limit (SEOBATCH_SUBMIT_TIME_LIMIT) is never above the lease
# (SEOBATCH_SUBMIT_LEASE; Settings.from_env checks), so a stuck create is interrupted
# before another attempt may start.
@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=8,
    min_backoff=5_000,
    max_backoff=600_000,
    time_limit=runtime.settings.submit_time_limit * 1000,
    on_retry_exhausted="job_gave_up",
)
def submit(job_id: int) -> None:
    run_stage("submit", job_id)
