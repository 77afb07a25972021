"""results: stream the ended batch's results into items and pages, then complete the job.

Results are read line by line and saved a chunk at a time: one transaction per chunk
with one SELECT of the chunk's items and set-based UPDATEs of items and pages. Only
items still ``pending`` change, so a re-run after a crash (or a duplicate message)
never counts a result twice; the first result of a duplicated custom_id wins; an
unknown custom_id is logged and ignored. A batch whose results all carry another job's
custom ids (``j<job>p<page>``) was adopted by a wrong reconciliation: the job fails with
a reconciliation error, nothing is saved and no page is charged an attempt.

Each reply is validated and sanitised (``output.parse_reply``); a reply that is not the
JSON object we asked for makes the item ``errored`` with an ``invalid_output…`` reason.
A reply that is goes through the quality gate (``seobatch.quality``, one gate per run):
a rejected one errors the item with ``quality: <checks> — <reason>`` (the page keeps its
published value; the reason goes into its next prompt); a flagged or published one saves
the gate's repaired title and description. The item keeps the verdict. After the last
chunk, the site stage (``stages/site.py``) looks for duplicates among the site's pages.
A page that succeeded gets its SEO fields and the content hash / prompt version its
request was built from; a page that failed gets ``seo_last_error`` (and, when its item
errored, ``seo_attempts + 1``), and is collected again on a later night until it runs
out of attempts.

Items with no result once the stream ends: ``expired`` when the batch expired,
``canceled`` when it was canceled, else ``errored`` with reason ``missing_result`` (the
provider lost them; the page is tried again). Only an errored item (the provider's
error, or a reply that is not valid output) counts against its page's attempts:
expired, canceled and missing items say nothing about the page.

Counts come from the database (``GROUP BY status``) and cost from the token sums at
batch prices. The seed's job has no canceled count: canceled items are added to
``expired_count`` (both mean "never processed") and kept apart in
``metadata['canceled_count']``.

The download is parsed a chunk ahead on a thread of its own (``read_ahead``), and on
PostgreSQL two chunks are saved at once (``_Lanes``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from peewee import SQL

from .. import db as _db
from .. import jobmeta as jm
from ..bulk import bulk_update
from ..db import chunked, database, utcnow
from ..errors import InvalidOutput, ResultsUnavailable
from ..jobmeta import ItemStatus, JobStatus
from ..models import CUSTOM_ID_RE, Page, SeoBatchItem, SeoBatchJob
from ..output import OutputLimits, parse_reply
from ..page_inputs import language_of
from ..pricing import batch_cost
from ..providers.base import Ending, outcome_for_missing
from ..prune import drop_provider_files
from ..quality import REJECT, PageContext, QualityGate, Verdict
from ..quality import fingerprint as fp
from ..quality.checks import CHECKS
from ..revisions import Generated, Publishing, record_published, save_generated, share_pages
from ..text import printable_line
from . import claims, failover
from ._common import later, load_job, log, provider_for, stamp
from .jobstate import fail_job, update_metadata
from .poll import poll_delay
from .site import check_site
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchInfo, BatchProvider, ItemResult

T = TypeVar("T")

#: The checks whose firing rejects a reply.
_REJECTING = frozenset(name for name, c in CHECKS.items() if c.action == REJECT)
#: Longest provider error text kept on an item or page.
MAX_ERROR_CHARS = 500
#: The job statuses results may write in: anything else means canceled or failed meanwhile.
_PROCESSING = (JobStatus.PROCESSING,)


def results(
    job_id: int,
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
) -> list[Step]:
    """Save the ended batch's results and complete the job (emits job_completed)."""
    job = load_job(job_id)
    if job is None or not job.is_processing or not job.ai_batch_id:
        return []
    provider = provider_for(job, settings, provider)
    info = provider.get_batch(job.ai_batch_id)
    if info.state != "ended":
        delay = poll_delay(1, settings)
        update_metadata(job_id, expected=_PROCESSING, changes={jm.NEXT_POLL_AT: later(utcnow(), delay)})
        return [Step("poll", job_id, delay_ms=int(delay * 1000))]
    if info.ending == Ending.FAILED:
        reason = info.error or info.provider_state
        if fail_job(job, f"the provider's batch {job.ai_batch_id} failed: {reason}", settings=settings,
                    expected=_PROCESSING):
            drop_provider_files(job_id, info, provider)
        return []

    claims.take(job_id, "results", settings)
    limits = _reply_limits(settings)
    gate = QualityGate(settings.quality) if settings.quality_gate else None
    seen = 0
    tally = _Tally()
    try:
        lanes_ = _Lanes(Publishing.from_settings(settings))
        with read_ahead(provider.iter_results(info), settings.chunk_size) as chunks, lanes_ as lanes:
            for saved in lanes.save(job, chunks, limits, tally, gate):
                seen += saved
                # The claim rides on the chunk's progress write: renewed per chunk, no extra statement.
                changes = {jm.RESULTS_SEEN: seen, **claims.fields("results", settings)}
                if update_metadata(job_id, expected=_PROCESSING, changes=changes) is None:
                    return []  # canceled or failed meanwhile
    except ResultsUnavailable as exc:
        if info.ending not in (Ending.EXPIRED, Ending.CANCELED):
            # Past the provider's retention (Anthropic 29 days, Gemini files 48 h): say so
            # plainly; the pages stay eligible and are sent again on a later night.
            fail_job(job, f"results_unavailable: {exc.message}", settings=settings, expected=_PROCESSING)
            return []
        # An expired or canceled batch may have nothing to download: every item is missing.
        log.info("job %s: batch %s has no results to read (%s)", job_id, info.id, exc)
    if tally.foreign and not tally.ours:
        # Nothing was saved (no id was ours): fail before settling the missing items, so
        # no page pays an attempt for another job's batch.
        fail_job(job, (
            f"reconciliation error: batch {info.id} holds the requests of job(s) "
            f"{', '.join(map(str, sorted(tally.foreign)))}, not this job's; no result was saved "
            "and no page was charged an attempt — check the provider's batch list"
        ), settings=settings, expected=_PROCESSING)
        return []
    _settle_missing(job, info)
    check_site(job.id, settings)  # since the job's submission: a re-run finds the same pages
    if _complete(job, info, settings):
        drop_provider_files(job_id, info, provider)  # the results are saved: the files are not needed
        return failover.hand_over(job_id, settings)
    return []


def _reply_limits(settings: Settings) -> OutputLimits:
    """The character limits a reply must meet before it is judged. With the quality gate
    on, pixels decide: the prompt still asks for SEOBATCH_TITLE_MAX / _DESCRIPTION_MAX
    characters, and a reply up to twice that reaches the gate, which cuts it to fit or
    rejects it; the minimums stay as they are."""
    limits = OutputLimits.from_settings(settings)
    if not settings.quality_gate:
        return limits
    return OutputLimits(limits.title_min, 2 * limits.title_max, limits.description_min, 2 * limits.description_max)


def outcome_of(
    result: ItemResult, limits: OutputLimits, page_url: str | None = None, page_text: str | None = None
) -> tuple[ItemStatus, dict[str, str] | None, str | None]:
    """(item status, validated fields or None, error or None) for one result.

    ``page_url`` / ``page_text`` tell the validator which hosts and phrases the page
    itself contains (a reply may repeat those, not others).
    """
    if result.outcome == ItemStatus.SUCCEEDED:
        try:
            fields = parse_reply(result.text or "", limits, page_url, page_text)
        except InvalidOutput as exc:
            return ItemStatus.ERRORED, None, _clip(exc.reason)
        return ItemStatus.SUCCEEDED, {"title": fields.title, "meta_description": fields.meta_description}, None
    if result.outcome in jm.ITEM_OUTCOMES:
        return ItemStatus(result.outcome), None, _clip(result.error or result.outcome)
    return ItemStatus.ERRORED, None, _clip(f"unknown outcome {result.outcome!r}")


#: What a rejected item's error starts with; the collector puts the rest in the next prompt.
QUALITY_PREFIX = "quality: "


def quality_reason(verdict: Verdict) -> str:
    """``quality: <reject check names> — <reason>`` for a rejected verdict."""
    names = ", ".join(dict.fromkeys(f.name for f in verdict.checks if f.name in _REJECTING))
    return f"{QUALITY_PREFIX}{names} — {verdict.reason or 'rejected'}"


def _clip(text: str) -> str:
    """A provider's error text as one printable line of bounded length: a reason is shown
    to people, and PostgreSQL refuses NUL and lone surrogates in text columns."""
    return printable_line(str(text), MAX_ERROR_CHARS) or "error"


# --------------------------------------------------------------------------- reading ahead


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


@contextlib.contextmanager
def read_ahead(items: Iterable[T], size: int, depth: int = 2) -> Iterator[Iterator[list[T]]]:
    """``chunked(items, size)``, produced by a thread of its own at most ``depth`` ahead.

    The results stage parses the download here while its own thread waits for the
    database to write the chunk before: the two overlap instead of taking turns. The
    producer never touches the database. Its exception is raised in the consumer; leaving
    the block early stops it at its next item and closes ``items``.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                chunks.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for chunk in chunked(source, size):
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer as is
            put(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[list[T]]:
        while True:
            got = chunks.get()
            if got is _DONE:
                return
            if isinstance(got, _Failure):
                raise got.exc
            yield got

    thread = threading.Thread(target=produce, name="seobatch-read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- saving chunks


class _Tally:
    """How many results were this job's, and which other jobs the rest name."""

    def __init__(self) -> None:
        self.ours = 0
        self.foreign: set[int] = set()
        self._lock = threading.Lock()  # two lanes add to it

    def add(self, ours: int, foreign: Iterable[int]) -> None:
        with self._lock:
            self.ours += ours
            self.foreign.update(foreign)


class _Lanes:
    """Two chunks saved at once on PostgreSQL, each in its own transaction on its own
    connection: while one waits for the database the other validates its replies (alone,
    the stage spent half its time waiting). The second lane is a thread of its own.

    "The first result of a duplicated custom_id wins" still holds across the pair: the
    later chunk reads its items only after the earlier one has locked its own, so a
    duplicate waits for the earlier chunk to commit and then finds its item settled.
    SQLite serialises writers anyway: one lane there.
    """

    def __init__(self, publishing: Publishing | None = None) -> None:
        self._publishing = publishing
        self._pool: ThreadPoolExecutor | None = None
        if _db.is_postgres():
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seobatch-results")

    def __enter__(self) -> _Lanes:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            try:
                self._pool.submit(_close_connection).result()
            finally:
                self._pool.shutdown(wait=True)

    def save(
        self, job: SeoBatchJob, chunks: Iterable[list[ItemResult]], limits: OutputLimits, tally: _Tally,
        gate: QualityGate | None = None,
    ) -> Iterator[int]:
        """Save every chunk; yields the number of results saved after each step."""
        if self._pool is None:
            for chunk in chunks:
                _save_chunk(job, chunk, limits, tally, publishing=self._publishing, gate=gate)
                yield len(chunk)
            return
        earlier: tuple[Future[None], threading.Event, int] | None = None
        try:
            for chunk in chunks:
                if earlier is None:
                    locked = threading.Event()
                    future = self._pool.submit(_save_chunk, job, chunk, limits, tally, locked, self._publishing, gate)
                    earlier = (future, locked, len(chunk))
                    continue
                earlier[1].wait()  # the earlier chunk holds its rows: order between them is kept
                _save_chunk(job, chunk, limits, tally, publishing=self._publishing, gate=gate)
                future, _, count = earlier
                earlier = None
                future.result()
                yield count + len(chunk)
            if earlier is not None:
                future, _, count = earlier
                earlier = None
                future.result()
                yield count
        finally:
            if earlier is not None:  # leaving on an error: let the other lane finish first
                with contextlib.suppress(Exception):
                    earlier[0].result()


def _one_of(column: Any, values: list[str]) -> Any:
    """``column IN (…)``; on PostgreSQL ``= ANY(%s)`` with one array parameter (peewee's
    thousand separate parameters cost more than the query)."""
    if _db.is_postgres():
        return column == SQL("ANY(%s)", (values,))
    return column.in_(values)


def _close_connection() -> None:
    if not database.is_closed():
        database.close()


class _Update(NamedTuple):
    """One set-based write of a chunk (``bulk_update``'s constant part)."""

    table: str
    columns: list[tuple[str, str]]
    assignments: list[str]
    where: str = ""
    params: tuple[Any, ...] = ()

    def apply(self, rows: list[tuple[Any, ...]]) -> int:
        return bulk_update(self.table, key="id", columns=self.columns, assignments=self.assignments,
                           rows=rows, where=self.where, params=self.params)


#: Each settled item: its outcome, reply, error and tokens (only items still pending). Its
#: request body goes in the same write: nothing sends it again once a result is in.
_ITEM_RESULT_UPDATE = _Update(
    "seo_batch_items",
    columns=[("id", "bigint"), ("status", "text"), ("result", "json"), ("error", "text"),
             ("input_tokens", "int"), ("output_tokens", "int"), ("completed_at", "timestamp"),
             ("verdict", "json")],
    assignments=["status = v.status", "result = v.result", "error = v.error", "verdict = v.verdict",
                 "input_tokens = v.input_tokens", "output_tokens = v.output_tokens",
                 "completed_at = v.completed_at", "updated_at = v.completed_at", "request = NULL"],
    where="t.status = %s",
    params=(ItemStatus.PENDING.value,),
)
#: A page whose item did not succeed: the reason, and an attempt when the item errored.
_PAGE_FAILURE_UPDATE = _Update(
    "seo_pages",
    columns=[("id", "bigint"), ("error", "text"), ("bump", "int")],
    assignments=["seo_attempts = t.seo_attempts + v.bump", "seo_last_error = v.error"],
)


class _Writes(NamedTuple):
    """A chunk's rows for the three updates above."""

    items: list[tuple[Any, ...]]
    ok_pages: list[Generated]
    failed_pages: list[tuple[Any, ...]]


def _save_chunk(
    job: SeoBatchJob, chunk: Iterable[ItemResult], limits: OutputLimits, tally: _Tally | None = None,
    rows_locked: threading.Event | None = None, publishing: Publishing | None = None,
    gate: QualityGate | None = None,
) -> None:
    """Save one chunk of results in one transaction: lock the chunk's pending items, judge
    each result, write items and pages set-based. ``rows_locked`` is set once the items
    are locked (or this failed): the other lane waits for it before reading its own."""
    first: dict[str, ItemResult] = {}
    duplicates = 0
    try:
        for result in chunk:
            if result.custom_id in first:
                duplicates += 1
            else:
                first[result.custom_id] = result
        # Only ids we could have made are looked up; anything else (NUL, lone surrogates,
        # 10 kB of junk) is unknown by construction.
        wanted = [c for c in first if CUSTOM_ID_RE.match(c)]
        with _db.write_transaction():
            known = _lock_items(job, wanted)
            if rows_locked is not None:
                rows_locked.set()
            writes = _judge(job, first, known, limits, utcnow(), gate)
            _ITEM_RESULT_UPDATE.apply(writes.items)
            # Valid replies become revisions; the page's live fields follow what is published.
            save_generated(job, writes.ok_pages, publishing or Publishing())
            _PAGE_FAILURE_UPDATE.apply(writes.failed_pages)
    finally:
        if rows_locked is not None:
            rows_locked.set()  # never leave the other lane waiting, whatever happened here
    unknown = [cid for cid in first if cid not in known]
    if tally is not None:
        owners = (SeoBatchItem.job_of_custom_id(cid) for cid in unknown)
        tally.add(len(first) - len(unknown), {o for o in owners if o is not None and o != job.id})
    if unknown or duplicates:
        log.warning(
            "job %s: ignored %d result(s) with unknown custom_id (e.g. %s) and %d duplicate(s)",
            job.id, len(unknown), ", ".join(ascii(c[:70]) for c in unknown[:3]) or "-", duplicates,
        )


def _lock_items(job: SeoBatchJob, custom_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """custom_id → (item id, status, page id, content hash, prompt version, url, title,
    content, h1, attributes) for this job's items among ``custom_ids``; on PostgreSQL the
    items are locked. ``attributes`` is decoded (SQLite hands back JSON text)."""
    query = (
        SeoBatchItem.select(
            SeoBatchItem.custom_id,
            SeoBatchItem.id,
            SeoBatchItem.status,
            SeoBatchItem.page,
            SeoBatchItem.content_hash,
            SeoBatchItem.prompt_version,
            Page.url,
            Page.title,
            Page.content,
            Page.h1,
            Page.attributes,
        )
        .join(Page, on=(SeoBatchItem.page == Page.id))
        .where((SeoBatchItem.job == job.id) & _one_of(SeoBatchItem.custom_id, custom_ids))
    )
    if _db.is_postgres():
        # Lock the items this chunk settles; the pages are only read here (locking
        # them too wrote a lock into every page row: a tenth of the stage's time).
        query = query.for_update(of=SeoBatchItem)
    # Plain driver rows: peewee's per-row wrapper is measurable at 100k results.
    rows = database.execute(query).fetchall()
    if _db.is_postgres():
        return {row[0]: row[1:] for row in rows}
    decode = Page.attributes.python_value
    return {row[0]: (*row[1:-1], decode(row[-1])) for row in rows}


def _judge(
    job: SeoBatchJob, results: dict[str, ItemResult], known: dict[str, tuple[Any, ...]],
    limits: OutputLimits, now: datetime, gate: QualityGate | None = None,
) -> _Writes:
    """The rows each pending item's result writes (items settled already are left alone).

    A reply in the right format goes through the quality ``gate`` (when there is one):
    ``reject`` errors the item with ``quality: <checks> — <reason>`` (an attempt; the page
    keeps its published value and the reason goes into its next prompt), ``flag`` and
    ``publish`` save the verdict's repaired title and description. Every judged item
    keeps its verdict."""
    writes = _Writes([], [], [])
    to_json = SeoBatchItem.result.db_value
    brand = gate.profile.brand if gate is not None else ""
    judged = []
    for custom_id, result in results.items():
        row = known.get(custom_id)
        if row is None or row[1] != ItemStatus.PENDING:
            continue
        _, _, _, _, _, url, title, content, h1, attributes = row
        judged.append((row, result, language_of(attributes),
                       *outcome_of(result, limits, url, f"{title or ''}\n{content or ''}")))
    # The chunk's replies judged together (the language identifier scores them in one pass).
    verdicts = iter(gate.judge_many([
        (fields["title"], fields["meta_description"],
         PageContext(row[5], title=row[6], h1=row[8], language=language, text=row[7], attributes=row[9]))
        for row, _, language, _, fields, _ in judged if fields is not None
    ]) if gate is not None else ())
    for row, result, language, status, fields, error in judged:
        item_id, _, page_id, content_hash, prompt_version, url, title, content, h1, attributes = row
        verdict: Verdict | None = None
        if fields is not None and gate is not None:
            verdict = next(verdicts)
            if verdict.action == REJECT:
                status, fields, error = ItemStatus.ERRORED, None, _clip(quality_reason(verdict))
            else:
                fields = {"title": verdict.title, "meta_description": verdict.description}
        verdict_json = to_json(verdict.to_dict()) if verdict is not None else None
        writes.items.append((
            item_id, status.value, to_json(fields), error, result.input_tokens, result.output_tokens, now,
            verdict_json,
        ))
        if fields is not None:
            page_language = language or (verdict.page_language if verdict is not None else None)
            variable = h1 or title or ""
            writes.ok_pages.append(Generated(
                page_id, fields["title"], fields["meta_description"], job.model, now, content_hash, prompt_version,
                item_id, verdict, (
                    fp.site_of(url, page_language), fp.key(fields["title"], brand),
                    fp.key(fields["meta_description"]), fp.skeleton_key(fields["title"], variable, brand),
                    fp.key(variable, brand) if variable else None,
                ), verdict_json,
            ))
        else:
            writes.failed_pages.append((page_id, error, 1 if status == ItemStatus.ERRORED else 0))
    return writes


# --------------------------------------------------------------------------- completing


def _settle_missing(job: SeoBatchJob, info: BatchInfo) -> None:
    """Items the stream never mentioned: expired, canceled or errored ``missing_result``."""
    status = ItemStatus(outcome_for_missing(info))
    error = "missing_result" if status == ItemStatus.ERRORED else f"missing_result: the batch was {status}"
    pending = (SeoBatchItem.job == job.id) & (SeoBatchItem.status == ItemStatus.PENDING)
    with _db.write_transaction():
        share_pages()  # it writes pages: a rollback or an approval waits for it, as for a chunk
        # No attempt is charged: the provider lost, expired or canceled these, not the page.
        Page.update(seo_last_error=error).where(
            Page.id.in_(SeoBatchItem.select(SeoBatchItem.page).where(pending))
        ).execute()
        missing = SeoBatchItem.update(
            status=status, error=error, completed_at=utcnow(), updated_at=utcnow(), request=None
        ).where(pending).execute()
    if missing:
        log.warning("job %s: %d item(s) had no result; marked %s", job.id, missing, status)


def counts_of(job_id: int) -> dict[str, tuple[int, int, int]]:
    """status → (items, input tokens, output tokens), counted by the database."""
    return SeoBatchItem.counts_for(job_id)


def _complete(job: SeoBatchJob, info: BatchInfo, settings: Settings, now: datetime | None = None) -> bool:
    counts = counts_of(job.id)
    n = {status: counts.get(status, (0, 0, 0))[0] for status in jm.ITEM_STATUSES}
    input_tokens = sum(c[1] for c in counts.values())
    output_tokens = sum(c[2] for c in counts.values())
    cost = batch_cost(job.model, input_tokens, output_tokens, settings)
    extra = {
        jm.INPUT_TOKENS: input_tokens,
        jm.OUTPUT_TOKENS: output_tokens,
        jm.COST_USD: round(cost, 6) if cost is not None else "unknown",
        jm.CANCELED_COUNT: n[ItemStatus.CANCELED],
        jm.PROVIDER_STATE: info.provider_state,
        jm.ENDING: info.ending,
        jm.RESULTS_FINISHED_AT: stamp(now or utcnow()),
        **claims.RELEASED,
    }
    with _db.write_transaction():  # pages_published commits with job_completed, or neither
        won = job.mark_completed(
            n[ItemStatus.SUCCEEDED], n[ItemStatus.ERRORED], n[ItemStatus.EXPIRED] + n[ItemStatus.CANCELED],
            extra_metadata=extra,
        )
        if won:
            record_published(job, settings.chunk_size)
    return won


__all__ = ["counts_of", "outcome_of", "results"]
