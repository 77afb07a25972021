"""Retention: what a finished job keeps once ``SEOBATCH_RETENTION_DAYS`` have passed.

A job that completed or failed more than the retention ago loses its items' bulky
columns: the request body (``request``, where one was stored) and the saved reply
(``result``; the page keeps its SEO fields). Everything that tells what happened stays:
the job row with its counts, cost and metadata, each item's status, tokens, error and
what it was built from, the events, and whatever other tables keep (revisions).

``seobatch prune`` and the clock's nightly run call ``prune``. It works in bounded
statements: jobs are read a page at a time, and their items are cleared ``chunk`` rows
per transaction, so a million-item prune never holds one giant transaction or lock.
Re-running it is a no-op for what is already pruned.

Provider files (Gemini's uploaded input and its responses file) are deleted right after
a job's results are saved (``drop_provider_files``), not here: by the time a job is old
enough to prune the provider has long removed them (48 h).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import db as _db
from .db import utcnow
from .errors import ProviderError
from .jobmeta import TERMINAL_STATUSES
from .models import SeoBatchItem, SeoBatchJob

if TYPE_CHECKING:
    from .config import Settings
    from .providers.base import BatchInfo, BatchProvider

log = logging.getLogger("seobatch.prune")

#: Jobs looked at per page of the scan.
JOBS_PER_PAGE = 200
#: Most items cleared in one transaction (and ids in one statement: under SQLite's limit).
MAX_CHUNK = 10_000


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, on a dry run, would remove)."""

    cutoff: datetime
    jobs: int
    items: int
    dry_run: bool = False

    def describe(self) -> str:
        verb = "would clear" if self.dry_run else "cleared"
        if not self.items:
            return f"nothing to prune (jobs finished before {self.cutoff:%Y-%m-%d %H:%M} UTC are pruned already)"
        return (
            f"{verb} the request bodies and replies of {self.items} item(s) in {self.jobs} job(s) "
            f"finished before {self.cutoff:%Y-%m-%d %H:%M} UTC; jobs, counts, costs and events stay"
        )


def _ids(query: Any) -> list[int]:
    """The first column of a one-column query (peewee's stubs type its rows as models)."""
    return [row[0] for row in query.tuples()]


def _holds_payload() -> Any:
    return SeoBatchItem.request.is_null(False) | SeoBatchItem.result.is_null(False)


def _old_jobs(cutoff: datetime, after: int) -> list[int]:
    """The next page of finished jobs older than ``cutoff``, by id."""
    finished = SeoBatchJob.completed_at.is_null(False) & (SeoBatchJob.completed_at < cutoff)
    # A failed job may have no completed_at: then its last change tells when it ended.
    failed_undated = SeoBatchJob.completed_at.is_null() & (SeoBatchJob.updated_at < cutoff)
    query = (
        SeoBatchJob.select(SeoBatchJob.id)
        .where(SeoBatchJob.status.in_(TERMINAL_STATUSES) & (finished | failed_undated) & (SeoBatchJob.id > after))
        .order_by(SeoBatchJob.id)
        .limit(JOBS_PER_PAGE)
    )
    return _ids(query)


def prune(settings: Settings, *, dry_run: bool = False, now: datetime | None = None,
          chunk: int | None = None) -> Pruned:
    """Clear the payloads of finished jobs older than the retention; returns what it did."""
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    chunk = chunk or min(MAX_CHUNK, max(1, settings.chunk_size) * 5)
    jobs = items = 0
    after = 0
    while True:
        page = _old_jobs(cutoff, after)
        if not page:
            break
        after = page[-1]
        holding = _ids(SeoBatchItem.select(SeoBatchItem.job).distinct()
                       .where(SeoBatchItem.job.in_(page) & _holds_payload()))
        if not holding:
            continue
        jobs += len(holding)
        if dry_run:
            items += SeoBatchItem.select().where(SeoBatchItem.job.in_(holding) & _holds_payload()).count()
        else:
            items += _clear(holding, chunk)
    done = Pruned(cutoff, jobs, items, dry_run)
    log.info("prune: %s", done.describe())
    return done


def _clear(job_ids: list[int], chunk: int) -> int:
    """Clear the jobs' payloads ``chunk`` items per transaction, in id order (a keyset:
    no chunk reads again the rows cleared before it)."""
    cleared = 0
    last = 0
    while True:
        with _db.write_transaction():
            ids = _ids(SeoBatchItem.select(SeoBatchItem.id).where(
                SeoBatchItem.job.in_(job_ids) & (SeoBatchItem.id > last) & _holds_payload()
            ).order_by(SeoBatchItem.id).limit(chunk))
            if not ids:
                return cleared
            cleared += SeoBatchItem.update(request=None, result=None).where(SeoBatchItem.id.in_(ids)).execute()
        last = ids[-1]


def drop_provider_files(job_id: int, batch: BatchInfo, provider: BatchProvider) -> None:
    """Delete the batch's files at the provider now that its results are saved.

    Best effort: a failure is logged (the provider removes the files on its own after
    its retention), never raised into the stage that just finished.
    """
    try:
        provider.delete_files(batch)
    except ProviderError as exc:
        log.warning("job %s: could not delete the files of batch %s at %s: %s",
                    job_id, batch.id, provider.name, exc)
