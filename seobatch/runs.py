"""A run: its jobs (the first and every job it split into), and how one is started.

``start_run`` is the one way a run starts — ``seobatch run``, ``scripts/kickoff.py``,
the clock and the demo all call it, with one behaviour: **the recovery sweep first**
(jobs a dead process or a lost message left stalled are sent again, or worked here
too), then the kickoff. Queued for the workers, or — with ``wait`` — worked in this
process until every job of both has ended. The library never imports the actors: the
caller hands in a ``Queue`` (``actors/queue.py`` is the one there is).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from . import jobmeta as jm
from .config import Settings
from .errors import AlreadyRunning, ConfigError
from .jobmeta import JobStatus
from .models import SeoBatchJob
from .progress import JobProgress
from .stages.kickoff import check_run, kickoff
from .stages.recover import Recovery, recover
from .stages.step import Step
from .term import format_usd

log = logging.getLogger(__name__)

#: No chain is followed further than this many jobs (a cycle in next_job_id, a bug).
MAX_CHAIN = 10_000

#: ``start()`` for ``Queue.work``: kicks the run off once no swept job collects; its
#: (first job id, steps), or None when nothing was started.
Start = Callable[[], "tuple[int, list[Step]] | None"]


def run_chains(first_job_ids: Iterable[int]) -> list[int]:
    """The jobs of the runs that start at ``first_job_ids``: each first job and every job
    it split into (``metadata.next_job_id``), in id order. One query, however many jobs:
    a run's later jobs are created after its first, so they all have larger ids."""
    firsts = sorted(set(first_job_ids))
    if not firsts:
        return []
    query = SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.metadata).where(SeoBatchJob.id >= firsts[0])
    rows: dict[int, Any] = {row.id: row.metadata for row in query}
    ids: set[int] = set()
    for first in firsts:
        job_id: int | None = first
        while job_id is not None and job_id in rows and job_id not in ids and len(ids) < MAX_CHAIN:
            ids.add(job_id)
            nxt = (rows[job_id] or {}).get(jm.NEXT_JOB_ID)
            job_id = int(nxt) if nxt else None
    return sorted(ids)


def run_chain(first_job_id: int) -> list[int]:
    """The run's jobs: the first and every job it split into."""
    return run_chains([first_job_id])


def collecting(job_ids: list[int]) -> bool:
    """Whether any of ``job_ids`` is still collecting (a kickoff of its model would be refused)."""
    return bool(job_ids) and (
        SeoBatchJob.select(SeoBatchJob.id)
        .where(SeoBatchJob.id.in_(job_ids) & (SeoBatchJob.status == JobStatus.COLLECTING))
        .exists()
    )


class Queue(Protocol):
    """Where a run's messages go: the workers behind the broker, or a worker in this process."""

    def check_reachable(self, settings: Settings) -> None: ...

    def send(self, steps: Iterable[Step]) -> None: ...

    def work(
        self, steps: Iterable[Step], settings: Settings, *, swept: Iterable[Step] = (),
        start: Start | None = None,
    ) -> list[JobProgress]: ...


@dataclass
class RunResult:
    """What ``start_run`` did: the sweep, the run's first job (None when nothing started),
    and — when worked here — the last snapshot of every job it followed."""

    recovery: Recovery
    first_job_id: int | None = None
    model: str = ""
    waited: bool = False
    final: list[JobProgress] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Worked here and a job did not complete (or nothing could be followed)."""
        if not self.waited:
            return False
        if not self.final:
            return self.first_job_id is not None or bool(self.recovery.stalled)
        return any(snap.stage != JobStatus.COMPLETED for snap in self.final)

    def lines(self) -> list[str]:
        """One line per job followed here: completed with its counts and cost, or why not."""
        out = []
        for snap in self.final:
            if snap.stage == JobStatus.COMPLETED:
                out.append(f"job {snap.job_id} completed: {snap.succeeded} succeeded, {snap.errored} errored, "
                           f"{snap.expired} expired; cost {_cost_of(snap.job_id)}")
            else:
                out.append(f"job {snap.job_id} {snap.stage}" + (f": {snap.error}" if snap.error else ""))
        return out


def start_run(
    settings: Settings,
    *,
    queue: Queue,
    model: str | None = None,
    limit: int | None = None,
    max_cost: float | None = None,
    source: str = "cli",
    wait: bool = False,
    skip_if_running: bool = False,
    stream: IO[str] | None = None,
) -> RunResult:
    """Sweep, then kick off a run of ``model`` (default SEOBATCH_MODEL).

    The caller has opened the database (``schema.open_database``: each entry point owns
    its connection; the clock's is fresh per unit of work). Everything that can be
    refused is refused before anything is written: the model, its key, the limit, and
    (queued) the broker. ``wait``: work the swept jobs
    and the run in this process (``queue.work``), the run starting once no swept job is
    still collecting. ``skip_if_running``: a run of the model still collecting is not an
    error (cron: nothing to do), else AlreadyRunning is raised.
    """
    model = check_run(settings, model)  # one-line error before anything else
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not wait:
        queue.check_reachable(settings)  # before a job exists: an unreachable broker leaves no orphan
    result = RunResult(recovery=recover(settings=settings), model=model, waited=wait)

    def start() -> tuple[int, list[Step]] | None:
        try:
            started = kickoff(settings=settings, model=model, limit=limit, max_cost=max_cost, source=source)
        except AlreadyRunning as exc:
            if not skip_if_running:
                raise
            log.warning("no kickoff: %s", exc)
            return None
        log.info("kickoff: job %s (%s)", started.job.id, model)
        result.first_job_id = started.job.id
        return started.job.id, started.steps

    if not wait:
        queue.send(result.recovery.steps)
        started = start()
        if started is not None:
            queue.send(started[1])
        return result
    try:
        result.final = queue.work([], settings, swept=result.recovery.steps, start=start)
    except KeyboardInterrupt:
        print("interrupted: the jobs stay in the database; `seobatch recover` with a worker "
              "running (or the next `seobatch run --wait`) picks them up", file=stream or sys.stderr)
        raise
    return result


def _cost_of(job_id: int) -> str:
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    cost = (job.metadata or {}).get(jm.COST_USD) if job else None
    return format_usd(cost) if isinstance(cost, (int, float)) else "unknown"
