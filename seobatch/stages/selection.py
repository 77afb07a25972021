"""Which pages need SEO tonight, and the request each one becomes.

A page is eligible when its SEO is missing or was made from something else than what
the page is now — another content hash, prompt version or model — and it has failed
fewer than ``max_attempts`` nights in a row. A page with a pending item in another
active job is skipped: one page is never in two active jobs.

A page that used up its attempts stays out until something resets ``seo_attempts``
(a success elsewhere, or the operator); its ``seo_last_error`` says why it failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import peewee

from ..db import database
from ..jobmeta import ItemStatus
from ..models import ACTIVE_STATUSES, Page, SeoBatchItem, SeoBatchJob

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptTemplate
    from ..providers.base import BatchProvider

#: (id, url, title, content, attributes, content_hash): tuples, not model objects, on the hot path.
PAGE_COLUMNS = (Page.id, Page.url, Page.title, Page.content, Page.attributes, Page.content_hash)

#: Bytes a client adds around one request body in the batch (custom_id, keys, commas).
ENVELOPE_BYTES = 64


class EligiblePages:
    """The pages that need SEO from one model and prompt version, read in keyset chunks.

    Two plain queries per chunk instead of one anti-join: the next pages by id, then
    which of those few ids have a pending item in another active job (an index probe
    on ``(page_id, status)``). A correlated ``NOT EXISTS`` lets the planner pick a
    nested loop over every pending item of the other jobs; with the items table's
    statistics lagging behind a fresh collect it did — 57 million comparisons per chunk
    for the second job of a 100k-page run.
    """

    def __init__(self, select: peewee.ModelSelect, exclude_job_id: int | None) -> None:
        self.select = select
        self.exclude_job_id = exclude_job_id

    def busy_jobs(self) -> list[int]:
        """Active jobs other than ours: usually none (one run at a time)."""
        query = SeoBatchJob.select(SeoBatchJob.id).where(SeoBatchJob.status.in_(ACTIVE_STATUSES))
        if self.exclude_job_id is not None:
            query = query.where(SeoBatchJob.id != self.exclude_job_id)
        return [job_id for (job_id,) in query.tuples()]

    def busy_among(self, page_ids: list[int], jobs: list[int]) -> set[int]:
        """Which of ``page_ids`` have a pending item in one of ``jobs``."""
        if not jobs or not page_ids:
            return set()
        query = SeoBatchItem.select(SeoBatchItem.page).where(
            SeoBatchItem.page.in_(page_ids)
            & (SeoBatchItem.status == ItemStatus.PENDING)
            & SeoBatchItem.job.in_(jobs)
        )
        return {page_id for (page_id,) in query.tuples()}


def eligible_pages(
    *, model: str, prompt_version: str, max_attempts: int, exclude_job_id: int | None = None,
    only_unfinished_of: int | None = None,
) -> EligiblePages:
    """Pages that need SEO from ``model`` with this prompt version, not busy elsewhere;
    with ``only_unfinished_of`` (a failover job), only that job's pages without a result."""
    needs_seo = (
        Page.seo_generated_at.is_null()
        | Page.seo_content_hash.is_null()
        | (Page.seo_content_hash != Page.content_hash)
        | Page.seo_prompt_version.is_null()
        | (Page.seo_prompt_version != prompt_version)
        | Page.seo_model.is_null()
        | (Page.seo_model != model)
    )
    select = Page.select(*PAGE_COLUMNS).where(needs_seo & (Page.seo_attempts < max_attempts))
    if only_unfinished_of is not None:
        unfinished = SeoBatchItem.select(SeoBatchItem.page).where(
            (SeoBatchItem.job == only_unfinished_of) & (SeoBatchItem.status != ItemStatus.SUCCEEDED)
        )
        select = select.where(Page.id.in_(unfinished))
    return EligiblePages(select, exclude_job_id)


def next_pages(query: EligiblePages, *, after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """The next ``limit`` eligible rows with an id above ``after_id``, in id order."""
    if limit <= 0:
        return []
    jobs = query.busy_jobs()
    rows: list[tuple[Any, ...]] = []
    while len(rows) < limit:
        want = limit - len(rows)
        batch = _page_rows(query.select.where(Page.id > after_id).order_by(Page.id).limit(want))
        busy = query.busy_among([row[0] for row in batch], jobs)
        rows.extend(row for row in batch if row[0] not in busy)
        if len(batch) < want:
            break  # the end of the table
        after_id = batch[-1][0]
    return rows


def _page_rows(select: peewee.ModelSelect) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them (peewee's per-row wrapper costs more than the
    read at 100k pages); only ``attributes`` needs decoding, and only on SQLite."""
    rows = database.execute(select).fetchall()
    decode = Page.attributes.python_value
    return [(i, url, title, content, decode(attrs), chash) for i, url, title, content, attrs, chash in rows]


def iter_pages(query: EligiblePages, *, chunk_size: int, after_id: int = 0) -> Iterator[tuple[Any, ...]]:
    """Every eligible row in id order, one keyset chunk in memory at a time."""
    while True:
        rows = next_pages(query, after_id=after_id, limit=chunk_size)
        if not rows:
            return
        yield from rows
        after_id = rows[-1][0]


@dataclass(frozen=True)
class BuiltRequest:
    page_id: int
    custom_id: str
    #: The provider request body, encoded once as compact JSON (what the item stores).
    body_json: str
    content_hash: str
    #: Bytes of this request in the batch body (its UTF-8 JSON plus the client's envelope).
    size: int
    #: Estimated input tokens of the prompt (for the cost guard and --dry-run).
    input_tokens: int


class RequestBuilder:
    """Turns page rows into provider requests with the run's prompt template."""

    def __init__(
        self,
        *,
        provider: BatchProvider,
        template: PromptTemplate,
        model: str,
        settings: Settings,
        job_id: int = 0,
    ) -> None:
        from ..pricing import estimate_tokens

        #: Whose items these are (custom ids carry it); 0 for a plan's estimate.
        self.job_id = job_id
        self.provider = provider
        self.template = template
        self.model = model
        self.max_tokens = settings.max_output_tokens
        self._estimate_tokens = estimate_tokens

    def build(self, row: tuple[Any, ...]) -> BuiltRequest:
        page_id, url, title, content, attributes, content_hash = row
        prompt = self.template.render(url, title, content, attributes)
        custom_id = SeoBatchItem.custom_id_for(page_id, self.job_id)
        request = self.provider.build_request(
            custom_id, prompt, model=self.model, max_tokens=self.max_tokens
        )
        body_json = json.dumps(request.body, ensure_ascii=False, separators=(",", ":"))
        encoded = len(body_json) if body_json.isascii() else len(body_json.encode("utf-8", "surrogatepass"))
        # PostgreSQL hands jsonb back with a space after every ':' and ',' (submit sends
        # that text as is): count them all, an upper bound, so a job never outgrows the limit.
        size = encoded + body_json.count(":") + body_json.count(",") + len(custom_id) + ENVELOPE_BYTES
        tokens = self._estimate_tokens(f"{prompt.system}\n{prompt.user}")
        return BuiltRequest(page_id, request.custom_id, body_json, content_hash, size, tokens)
