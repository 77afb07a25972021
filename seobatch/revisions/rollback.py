"""Rollback of a job or a run, what a job changed (diff), and a change's pages in chunks.

``rollback(jobs)``: every page whose published revision came from those jobs goes back
to the revision it replaced (walking past revisions of the same jobs, down to the
page's original). Set-based, in one transaction: a temporary table maps each page's
published revision to its target, then four UPDATEs move the states and the live
fields, whatever the number of pages. On PostgreSQL it holds the publish lock
(``_sql.own_pages``) exclusively while results chunks hold it shared, so a rollback and
a results stage saving another job wait for each other instead of racing. Idempotent:
a second run finds nothing published by those jobs and says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee
from peewee import JOIN

from .. import db as _db
from ..db import database, utcnow
from ..errors import InputError
from ..models import Page, PageRevision, SeoBatchJob
from ..publishing import Source, State
from . import _sql
from .review import record_event, run_jobs

_ANALYZE_STEP = "ANALYZE seobatch_rollback_step"


class _Step(peewee.Model):
    """A rollback's map, page → the published revision undone → the one restored."""

    page_id = peewee.BigIntegerField(primary_key=True)
    from_id = peewee.BigIntegerField()
    to_id = peewee.BigIntegerField(null=True)

    class Meta:
        database = database
        table_name = "seobatch_rollback_step"


def resolve_jobs(*, job: int | None = None, run: str | None = None) -> list[int]:
    """The job ids ``--job``/``--run`` name; an unknown one is an InputError."""
    if job is not None:
        if not SeoBatchJob.select().where(SeoBatchJob.id == job).exists():
            raise InputError(f"job {job} does not exist")
        return [job]
    if run is not None:
        ids = [j for (j,) in _db.tuples(run_jobs(run).order_by(SeoBatchJob.id))]
        if not ids:
            raise InputError(f"no job belongs to run {run!r}")
        return ids
    raise InputError("name a job (--job N) or a run (--run R)")


def _live_from(jobs: Sequence[int]) -> Any:
    r = PageRevision
    return (r.state == State.PUBLISHED) & r.job.in_(list(jobs))


@dataclass
class RollbackPlan:
    """What a rollback does (or did): pages and where each goes back to."""

    jobs: list[int]
    pages: int
    to_original: int
    to_generated: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    change_id: str | None = None
    by: str | None = None
    at: datetime | None = None

    def describe(self, *, done: bool) -> str:
        what = "job " + str(self.jobs[0]) if len(self.jobs) == 1 else "jobs " + ", ".join(map(str, self.jobs))
        verb = "restored" if done else "would restore"
        return (f"{what}: {verb} {self.pages} page{'s' if self.pages != 1 else ''} "
                f"({self.to_generated} to an earlier generated revision, {self.to_original} to the original)")


def _nothing(jobs: Sequence[int]) -> InputError:
    r = PageRevision
    what = "job " + str(jobs[0]) if len(jobs) == 1 else "jobs " + ", ".join(map(str, jobs))
    undone = next(_db.tuples(r.select(peewee.fn.COUNT(r.id), peewee.fn.MAX(r.decided_at)).where(
        (r.state == State.ROLLED_BACK) & r.job.in_(list(jobs)))), None)
    if undone and undone[0]:
        return InputError(f"{what}: already rolled back ({undone[0]} pages, at {_db.iso(undone[1])}); "
                          "nothing changed")
    return InputError(f"{what} published nothing that is live now; nothing to roll back")


def _map(jobs: Sequence[int]) -> int:
    """Fill the temporary map: each page's published revision from ``jobs`` → its target.
    Returns how many pages it holds."""
    r = PageRevision
    pages = int(_Step.insert_from(r.select(r.page_id, r.id, r.replaces_id).where(_live_from(jobs)),
                                  [_Step.page_id, _Step.from_id, _Step.to_id]).as_rowcount().execute())
    prev = PageRevision.alias("prev")
    # One job has one revision per page: its targets are never its own. A run's jobs can
    # be stacked on one page: a target made by the same jobs is undone too, go one further.
    for _ in range(len(jobs) - 1):
        inside = r.select(r.id).where(r.job.in_(list(jobs)))
        moved = _Step.update(to_id=prev.select(prev.replaces_id).where(prev.id == _Step.to_id)).where(
            _Step.to_id.in_(inside)).execute()
        if not moved:
            break
    return pages


def _plan(jobs: list[int], examples: int) -> RollbackPlan:
    r = PageRevision
    target = PageRevision.alias("target")
    counts = (_db.tuples(_Step.select(target.source, peewee.fn.COUNT(_Step.page_id))
              .join(target, JOIN.LEFT_OUTER, on=(target.id == _Step.to_id)).group_by(target.source)))
    by_source = {source: int(n) for source, n in counts}
    sample = (_db.tuples(_Step.select(Page.url, r.title, target.title, target.source)
              .join(Page, on=(Page.id == _Step.page_id))
              .join(r, on=(r.id == _Step.from_id), src=_Step)
              .join(target, JOIN.LEFT_OUTER, on=(target.id == _Step.to_id), src=_Step)
              .order_by(_Step.page_id).limit(examples)))
    return RollbackPlan(
        jobs=jobs, pages=sum(by_source.values()), to_original=by_source.get(Source.ORIGINAL, 0)
        + by_source.get(None, 0), to_generated=by_source.get(Source.GENERATED, 0),
        examples=[{"url": u, "live": a, "restored": b, "restored_source": s or "none"} for u, a, b, s in sample],
    )


def rollback(
    jobs: Sequence[int], *, by: str, dry_run: bool = False, examples: int = 10, chunk_size: int = 1000,
) -> RollbackPlan:
    """Undo what ``jobs`` published (see the module); ``dry_run`` only plans it.
    Raises InputError, changing nothing, when they published nothing that is live."""
    jobs = sorted(set(jobs))
    now = utcnow()
    with _db.write_transaction():
        if not dry_run:
            _sql.own_pages()  # before the map: no results chunk moves a page under it
        # Temporary and transactional on both databases: an error rolls it away with the rest.
        database.create_tables([_Step], temporary=True, safe=True)
        _Step.delete().execute()
        if not _map(jobs):
            raise _nothing(jobs)
        if _db.is_postgres():
            database.execute_sql(_ANALYZE_STEP)  # a temporary table has no statistics until told
        plan = _plan(jobs, examples)
        if not dry_run:
            _apply(plan, jobs, by, now, chunk_size)
        database.drop_tables([_Step], safe=True)
    return plan


#: The undone revisions leave ``published`` and the pages take their targets' text (or
#: none, for a page whose trail ends before seobatch) in one statement on PostgreSQL; the
#: targets become published in the next (after: one published revision per page, always).
_UNDO_AND_PAGES_PG = (
    "WITH undone AS (UPDATE seo_page_revisions AS r SET state = %(rolled_back)s, decided_at = %(now)s, "
    "decided_by = %(by)s FROM seobatch_rollback_step m WHERE r.id = m.from_id AND r.state = %(published)s) "
    "UPDATE seo_pages AS p SET seo_title = t.title, seo_description = t.description, updated_at = %(now)s "
    "FROM seobatch_rollback_step m LEFT JOIN seo_page_revisions t ON t.id = m.to_id WHERE p.id = m.page_id"
)
_RESTORE_PG = (
    "UPDATE seo_page_revisions AS r SET state = %(published)s, published_at = %(now)s, change_id = %(change)s "
    "FROM seobatch_rollback_step m WHERE r.id = m.to_id"
)
_UNDO_SQLITE = (
    "UPDATE seo_page_revisions AS r SET state = :rolled_back, decided_at = :now, decided_by = :by "
    "FROM seobatch_rollback_step m WHERE r.id = m.from_id AND r.state = :published"
)
_PAGES_SQLITE = (
    "UPDATE seo_pages AS p SET seo_title = t.title, seo_description = t.description, updated_at = :now "
    "FROM seobatch_rollback_step m LEFT JOIN seo_page_revisions t ON t.id = m.to_id WHERE p.id = m.page_id"
)
_RESTORE_SQLITE = (
    "UPDATE seo_page_revisions AS r SET state = :published, published_at = :now, change_id = :change "
    "FROM seobatch_rollback_step m WHERE r.id = m.to_id"
)


def _apply(plan: RollbackPlan, jobs: list[int], by: str, now: datetime, chunk_size: int) -> None:
    """Every state and live field the map names, whatever the number of pages: two UPDATEs
    on PostgreSQL (three on SQLite), each one pass over the map."""
    change = f"rollback-{secrets.token_hex(6)}"
    params = {"rolled_back": State.ROLLED_BACK.value, "published": State.PUBLISHED.value,
              "now": now, "by": by, "change": change}
    if _db.is_postgres():
        database.execute_sql(_UNDO_AND_PAGES_PG, params)
        database.execute_sql(_RESTORE_PG, params)
    else:
        for statement in (_UNDO_SQLITE, _PAGES_SQLITE, _RESTORE_SQLITE):
            database.execute_sql(statement, params)
    plan.change_id, plan.by, plan.at = change, by, now
    record_event("pages_rolled_back", change, chunk_size, jobs=jobs, rolled_back=plan.pages,
                 to_original=plan.to_original, to_generated=plan.to_generated, by=by)


@dataclass(frozen=True)
class Change:
    """One revision of a job, old (what it replaced) → new."""

    revision_id: int
    url: str
    state: str
    reason: str | None
    old_title: str | None
    title: str | None
    old_description: str | None
    description: str | None
    old_title_px: float | None
    title_px: float | None

    FIELDS = ("revision_id", "url", "state", "reason", "old_title", "title", "old_description",
              "description", "old_title_px", "title_px")


def diff(jobs: Sequence[int], *, chunk_size: int = 1000) -> Iterator[Change]:
    """Every generated revision of ``jobs`` with what it replaced, by id, a keyset page at a time."""
    r = PageRevision
    old = PageRevision.alias("old")
    last = 0
    while True:
        query = (_db.tuples(r.select(r.id, Page.url, r.state, r.reason, old.title, r.title, old.description,
                          r.description, old.title_px, r.title_px)
                 .join(Page, on=(Page.id == r.page_id))
                 .join(old, JOIN.LEFT_OUTER, on=(old.id == r.replaces_id), src=r)
                 .where(r.job.in_(list(jobs)) & (r.source == Source.GENERATED) & (r.id > last))
                 .order_by(r.id).limit(chunk_size)))
        rows = list(query)
        for row in rows:
            yield Change(*row)
        if len(rows) < chunk_size:
            return
        last = rows[-1][0]


@dataclass(frozen=True)
class ChangedPage:
    page_id: int
    url: str
    seo_title: str | None
    seo_description: str | None
    revision_id: int


def changed_pages(change_id: str, *, after_page_id: int = 0, limit: int = 1000) -> list[ChangedPage]:
    """The pages a change (``pages_published``/``pages_rolled_back``'s ``change_id``)
    published, with their live values now, in page id order after ``after_page_id``:
    read them a chunk at a time (the ``(change_id, page_id)`` index answers)."""
    r = PageRevision
    query = (_db.tuples(r.select(r.page_id, Page.url, Page.seo_title, Page.seo_description, r.id)
             .join(Page, on=(Page.id == r.page_id))
             .where((r.change_id == change_id) & (r.page_id > after_page_id))
             .order_by(r.page_id).limit(limit)))
    return [ChangedPage(*row) for row in query]
