"""collect: build one item per eligible page, in chunks, then hand the job to submit.

Each chunk is one transaction under the collector lock: read where this job stopped
(``metadata.cursor``), select the next eligible pages, insert their items (ignoring
rows that already exist), move the cursor. A crash loses at most the chunk in flight;
a re-run, or a duplicate message running at the same time, resumes after the cursor.

A job never exceeds the provider's batch limits. When it is full and pages remain, the
same transaction moves it to ``submitting`` and creates the run's next job, which starts
after this job's cursor and holds at most one item fewer than this one (``max_items``):
the jobs of a run have distinct sizes, so an unclear Anthropic create, which can only be
matched by its request count, matches one job of the run. A job that found no page at all ends ``completed`` with zero
counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import db as _db
from .. import jobmeta as jm
from ..bulk import insert_items
from ..db import collector_lock, database, utcnow
from ..jobmeta import ItemStatus, JobStatus
from ..models import SeoBatchJob
from . import claims
from ._common import (
    batch_limits,
    load_job,
    log,
    provider_for,
    stamp,
)
from .selection import RequestBuilder, eligible_pages, next_pages
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptTemplate
    from ..providers.base import BatchProvider


def collect(
    job_id: int,
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
    template: PromptTemplate | None = None,
) -> list[Step]:
    """Fill the job with items; returns ``submit`` (and ``collect`` of the next job)."""
    job = load_job(job_id)
    if job is None or not job.is_collecting:
        return []
    provider = provider_for(job, settings, provider)
    if template is None:
        from ..prompts import PromptTemplate

        template = PromptTemplate.load(settings)
    builder = RequestBuilder(
        provider=provider, template=template, model=job.model, settings=settings, job_id=job.id
    )
    limits = batch_limits(provider.name, settings, job.model)
    query = eligible_pages(
        model=job.model,
        prompt_version=template.version,
        max_attempts=settings.max_attempts,
        exclude_job_id=job.id,
        configured_model=settings.model,
        only_unfinished_of=(job.metadata or {}).get(jm.FAILOVER_OF),
    )
    claims.take(job.id, "collect", settings)
    while True:
        steps = _collect_chunk(job, query, builder, limits, template.version, settings.chunk_size,
                               claim=claims.fields("collect", settings))
        if steps is not None:
            if steps:
                refresh_item_statistics()
            return steps


#: The columns the later stages filter and join on (all of them: with some columns
#: analysed and others not, the planner took 1000 custom_ids for the whole job and merged
#: the job with every page, 150 ms a chunk). The requests are TOASTed and not sampled:
#: ~20 ms at 100k items.
_ANALYZE_ITEMS = "ANALYZE seo_batch_items (job_id, status, custom_id, page_id)"


def refresh_item_statistics() -> None:
    """Tell PostgreSQL's planner about the items just written (autovacuum lags behind).

    With statistics from before the collect, the planner takes a job's tens of thousands
    of items for one or two rows and reads a keyset chunk as "every item of the job, then
    sort": every chunk of submit and results then costs as much as the whole job.
    """
    if _db.is_postgres():
        database.execute_sql(_ANALYZE_ITEMS)


def _collect_chunk(
    job: SeoBatchJob,
    query: Any,
    builder: RequestBuilder,
    limits: Any,
    prompt_version: str,
    chunk_size: int,
    claim: dict[str, Any] | None = None,
) -> list[Step] | None:
    """Collect one chunk in one transaction; a list of steps when the job is done."""
    with collector_lock():
        row = _db.lock_for_update(
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.metadata).where(SeoBatchJob.id == job.id)
        ).first()
        if row is None or row.status != JobStatus.COLLECTING:
            return []  # another worker finished this job
        meta = dict(row.metadata or {})
        cursor = int(meta.get(jm.CURSOR) or meta.get(jm.AFTER_PAGE_ID) or 0)
        count = int(meta.get(jm.COLLECTED) or 0)
        size = int(meta.get(jm.COLLECTED_BYTES) or 0)
        tokens = int(meta.get(jm.ESTIMATED_INPUT_TOKENS) or 0)
        limit = meta.get(jm.LIMIT)
        room = min(limits.max_requests, int(meta.get(jm.MAX_ITEMS) or limits.max_requests)) - count
        if limit is not None:
            room = min(room, int(limit) - count)

        pages = next_pages(query, after_id=cursor, limit=min(chunk_size, room))
        if not pages:
            if room <= 0 and (limit is None or count < int(limit)):
                # Full by request count: split if anything is left for the next job.
                if next_pages(query, after_id=cursor, limit=1):
                    return _split(job, meta)
            return _finish(job, meta)

        chunk = _Chunk(job.id, builder, limits.max_bytes, prompt_version, count, size, tokens, cursor)
        # Rows are built while PostgreSQL's COPY takes the ones before: page rendering
        # and the server's parsing run side by side (two cores instead of one in turn).
        insert_items(chunk.rows(pages))
        meta.update({
            jm.CURSOR: chunk.cursor,
            jm.COLLECTED: count + chunk.count,
            jm.COLLECTED_BYTES: chunk.size,
            jm.ESTIMATED_INPUT_TOKENS: chunk.tokens,
            jm.PROMPT_VERSION: prompt_version,
            **(claim or {}),  # renewed with each chunk: this worker is alive and moving
        })
        SeoBatchJob.update(metadata=meta, updated_at=utcnow()).where(SeoBatchJob.id == job.id).execute()
        full = chunk.full
        if full:
            return _split(job, meta)
        return None


class _Chunk:
    """The item rows of one chunk, built one at a time; running totals as they go."""

    def __init__(self, job_id: int, builder: RequestBuilder, max_bytes: int, prompt_version: str,
                 count: int, size: int, tokens: int, cursor: int) -> None:
        self.job_id, self.builder, self.max_bytes = job_id, builder, max_bytes
        self.prompt_version = prompt_version
        self.before, self.count = count, 0
        self.size, self.tokens, self.cursor = size, tokens, cursor
        #: The job reached the byte limit: the page that did not fit starts the next job.
        self.full = False

    def rows(self, pages: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        now = utcnow().isoformat(" ")
        for page in pages:
            built = self.builder.build(page)
            if self.before + self.count > 0 and self.size + built.size > self.max_bytes:
                self.full = True
                return
            self.count += 1
            self.size += built.size
            self.tokens += built.input_tokens
            self.cursor = built.page_id
            yield (self.job_id, built.page_id, built.custom_id, ItemStatus.PENDING.value, built.body_json,
                   built.content_hash, self.prompt_version, now, now)


def _finish(job: SeoBatchJob, meta: dict[str, Any]) -> list[Step]:
    count = int(meta.get(jm.COLLECTED) or 0)
    done = {jm.COLLECTED_AT: stamp(utcnow()), **claims.RELEASED}
    if count == 0:
        empty = {jm.COLLECTED: 0, jm.INPUT_TOKENS: 0, jm.OUTPUT_TOKENS: 0, jm.COST_USD: 0.0, **done}
        job.mark_completed(0, 0, 0, expected=(JobStatus.COLLECTING,), extra_metadata=empty)
        log.info("job %s found no page that needs SEO", job.id)
        return []
    if not job.transition(JobStatus.SUBMITTING, expected=(JobStatus.COLLECTING,), metadata=done,
                          total_pages=count):
        return []
    return [Step("submit", job.id)]


def _split(job: SeoBatchJob, meta: dict[str, Any]) -> list[Step]:
    """This job is full: submit it, and let a new job of the same run take the rest."""
    count = int(meta.get(jm.COLLECTED) or 0)
    inherited: dict[str, Any] = {k: meta[k] for k in jm.INHERITED if k in meta}
    if meta.get(jm.LIMIT) is not None:
        inherited[jm.LIMIT] = int(meta[jm.LIMIT]) - count
    if count > 1:
        inherited[jm.MAX_ITEMS] = count - 1  # distinct sizes within the run (see the docstring)
    # Inside the collector lock's transaction, with this row locked: the move cannot
    # lose, and both rows commit together or not at all.
    if not job.transition(JobStatus.SUBMITTING, expected=(JobStatus.COLLECTING,), total_pages=count):
        return []
    nxt = SeoBatchJob.create(
        model=job.model,
        status=JobStatus.COLLECTING,
        metadata={**inherited, jm.AFTER_PAGE_ID: meta.get(jm.CURSOR, 0), jm.PREVIOUS_JOB_ID: job.id},
    )
    SeoBatchJob.update(
        metadata={**meta, jm.COLLECTED_AT: stamp(utcnow()), jm.NEXT_JOB_ID: nxt.id, **claims.RELEASED}
    ).where(SeoBatchJob.id == job.id).execute()
    log.info("job %s is full (%s items); job %s takes the rest of the run", job.id, count, nxt.id)
    return [Step("submit", job.id), Step("collect", nxt.id)]
