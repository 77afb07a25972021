"""Work runs in this process: an in-process broker and worker, and a progress display.

``seobatch.runs.start_run`` uses it to work a run here (``seobatch run --wait``, ``run``
and ``scripts/kickoff.py`` without Redis, ``seobatch demo``). It sweeps first: the jobs
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
from seobatch.runs import collecting, run_chains
from seobatch.stages import Step

from ._run import send_steps
from .broker import use_in_process

#: Worker threads for an in-process run (the stages are mostly I/O: HTTP and database).
THREADS = 4


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
                    until=lambda: not collecting(run_chains(firsts)),
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

