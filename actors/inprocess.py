"""Work runs in this process: an in-process broker and worker, and a progress display.

``seobatch run --wait`` (and ``run`` without Redis), ``scripts/kickoff.py`` without
Redis, and ``seobatch demo`` use it. The first two sweep before they start: the jobs
the recovery sweep finds stalled (a night whose process died, a lost message) are
worked by this worker too, the new run starts once none of them is still collecting
(a kickoff is refused while a run of its model collects), and the display follows
every one of them to the end. The messages never leave this process; if it dies, the
jobs stay in the database and the next sweep (a later ``--wait``, the next cron
kickoff, or a real worker's clock) picks them up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import IO

import dramatiq

from seobatch import progress
from seobatch.config import Settings
from seobatch.models import SeoBatchJob
from seobatch.stages import Step

from .broker import use_in_process

#: Worker threads for an in-process run (the stages are mostly I/O: HTTP and database).
THREADS = 4
#: No chain is followed further than this many jobs (a cycle in next_job_id, a bug).
MAX_CHAIN = 10_000


def run_chains(first_job_ids: Iterable[int]) -> list[int]:
    """The jobs of the runs that start at ``first_job_ids``: each first job and every job
    it split into (``metadata.next_job_id``), in id order. One query, however many jobs:
    a run's later jobs are created after its first, so they all have larger ids."""
    firsts = sorted(set(first_job_ids))
    if not firsts:
        return []
    rows = dict(
        SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.metadata)
        .where(SeoBatchJob.id >= firsts[0])
        .tuples()
    )
    ids: set[int] = set()
    for first in firsts:
        job_id: int | None = first
        while job_id is not None and job_id in rows and job_id not in ids and len(ids) < MAX_CHAIN:
            ids.add(job_id)
            nxt = (rows[job_id] or {}).get("next_job_id")
            job_id = int(nxt) if nxt else None
    return sorted(ids)


def run_chain(first_job_id: int) -> list[int]:
    """The run's jobs: the first and every job it split into."""
    return run_chains([first_job_id])


def work(
    steps: Iterable[Step],
    settings: Settings,
    *,
    first_job_id: int | None = None,
    swept: Iterable[Step] = (),
    start: Callable[[], tuple[int, list[Step]] | None] | None = None,
    stream: IO[str] | None = None,
    timeout: float | None = None,
    poll: float = 0.5,
) -> list[progress.JobProgress]:
    """Work ``steps`` (a run starting at ``first_job_id``) and the ``swept`` steps of the
    recovery sweep in an in-process worker; then ``start()`` a run — once no swept job is
    collecting — which returns its (first job id, steps) or None; show the progress of
    all of them until every one has ended. Returns the last snapshot."""
    from ._run import send_steps

    swept = list(swept)
    firsts = [s.job_id for s in swept] + ([first_job_id] if first_job_id is not None else [])
    stream = stream or sys.stderr
    broker = use_in_process(settings)
    worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
    worker.start()
    try:
        send_steps(swept)
        send_steps(steps)
        last: list[progress.JobProgress] = []
        if start is not None:
            if firsts:  # a kickoff is refused while a run of its model collects
                last = progress.watch(
                    lambda: run_chains(firsts), poll=poll, stream=stream, timeout=timeout,
                    until=lambda: not _collecting(run_chains(firsts)),
                )
            started = start()
            if started is not None:
                firsts.append(started[0])
                send_steps(started[1])
        if not firsts:
            return last
        return progress.watch(lambda: run_chains(firsts), poll=poll, stream=stream, timeout=timeout)
    finally:
        worker.stop()


def _collecting(job_ids: list[int]) -> bool:
    return bool(job_ids) and (
        SeoBatchJob.select(SeoBatchJob.id)
        .where(SeoBatchJob.id.in_(job_ids) & (SeoBatchJob.status == "collecting"))
        .exists()
    )
