"""Work a run in this process: an in-process broker and worker, and a progress display.

``seobatch run --wait`` (and ``run`` without Redis) and ``seobatch demo`` use it. The
run's messages never leave this process; if it dies, the jobs stay in the database
and the recovery sweep of a real worker (or a later ``--wait``) picks them up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

import dramatiq

from seobatch import progress
from seobatch.config import Settings
from seobatch.models import SeoBatchJob
from seobatch.stages import Step

from .broker import use_in_process

#: Worker threads for an in-process run (the stages are mostly I/O: HTTP and database).
THREADS = 4


def run_chain(first_job_id: int) -> list[int]:
    """The run's jobs: the first and every job it split into (``metadata.next_job_id``)."""
    ids: list[int] = []
    job_id: int | None = first_job_id
    while job_id is not None and job_id not in ids and len(ids) < 10_000:
        ids.append(job_id)
        row = SeoBatchJob.select(SeoBatchJob.metadata).where(SeoBatchJob.id == job_id).first()
        nxt = (row.metadata or {}).get("next_job_id") if row else None
        job_id = int(nxt) if nxt else None
    return ids


def work(
    steps: Iterable[Step],
    settings: Settings,
    *,
    first_job_id: int,
    stream: IO[str] | None = None,
    timeout: float | None = None,
    poll: float = 0.5,
) -> list[progress.JobProgress]:
    """Send ``steps`` to an in-process worker and show progress until the run has ended."""
    from ._run import send_steps

    broker = use_in_process(settings)
    worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
    worker.start()
    try:
        send_steps(steps)
        return progress.watch(
            lambda: run_chain(first_job_id), poll=poll, stream=stream or sys.stderr, timeout=timeout
        )
    finally:
        worker.stop()
