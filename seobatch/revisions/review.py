"""Review: list the proposed revisions, approve or reject them one, many or all.

Every decision records who (``by``) and when, and runs as a few set-based statements
in one transaction whatever it covers: the targets are named by a filter (ids, job,
run, check, language, host, flagged) and never loaded one by one. Approving publishes:
the page's published revision is superseded, the approved one published, the page's
live fields copied from it, and one ``pages_published`` event written for subscribers.

Bad input changes nothing and says why in one line (an ``InputError``): an id that is
not a proposal (no longer the newest for its page, decided already, unknown), a
locked page, a filter that matches nothing.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
from peewee import JOIN, SQL

from .. import db as _db
from .. import outbox
from ..db import database, utcnow
from ..errors import InputError
from ..models import Page, PageRevision, SeoBatchJob
from ..publishing import Source, State
from . import _sql
from .publish import page_event_data

_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_CHECK_RE = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Filter:
    """Which revisions a listing or a decision covers; empty fields do not filter."""

    ids: tuple[int, ...] = ()
    job: int | None = None
    run: str | None = None
    check: str | None = None
    language: str | None = None
    host: str | None = None
    flagged: bool | None = None

    def __post_init__(self) -> None:
        if self.host is not None and not _HOST_RE.match(self.host):
            raise InputError(f"--host must be a host name such as www.example.com, got {self.host!r}")
        if self.check is not None and not _CHECK_RE.match(self.check):
            raise InputError(f"--check must be a check name such as title_too_wide, got {self.check!r}")

    def describe(self) -> str:
        parts = []
        if self.ids:
            parts.append("revision " + ", ".join(map(str, self.ids)))
        for name in ("job", "run", "check", "language", "host"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} {value}")
        if self.flagged is not None:
            parts.append("flagged" if self.flagged else "not flagged")
        return ", ".join(parts) or "all"

    def condition(self) -> Any:
        """The filter over ``PageRevision`` joined to ``Page`` (True when empty)."""
        r = PageRevision
        cond: Any = SQL("1 = 1")
        if self.ids:
            cond &= _sql.any_of(r.id, list(self.ids))
        if self.job is not None:
            cond &= r.job == self.job
        if self.run is not None:
            cond &= r.job.in_(run_jobs(self.run))
        if self.check is not None:
            cond &= _has_check(self.check)
        if self.language is not None:
            cond &= peewee.fn.LOWER(_db.json_text(Page.attributes, "language")) == self.language.lower()
        if self.host is not None:
            host = self.host.lower()
            cond &= (Page.url.startswith(f"https://{host}/") | Page.url.startswith(f"http://{host}/")
                     | (Page.url == f"https://{host}") | (Page.url == f"http://{host}"))
        if self.flagged is not None:
            cond &= r.flagged == self.flagged
        return cond


def run_jobs(run: str) -> peewee.SelectQuery:
    """The ids of the jobs of run ``run`` (a subquery)."""
    from .. import jobmeta as jm  # a name only; jobmeta has no imports of its own

    return SeoBatchJob.select(SeoBatchJob.id).where(_db.json_text(SeoBatchJob.metadata, jm.RUN) == run)


def _has_check(name: str) -> Any:
    r = PageRevision
    if _db.is_postgres():
        # A constant the planner can read (not jsonb_build_array(…)): it then estimates a rare
        # check's rows from the GIN index seo_page_revisions_proposed_checks and uses it.
        wanted = peewee.Value(json.dumps([{"name": name}]), converter=False)  # JSONField would encode it again
        return peewee.Expression(r.checks, "@>", peewee.Cast(wanted, "jsonb"))
    # SQLite stores the compact JSON our JSONField writes: look for the exact member.
    return peewee.fn.instr(r.checks, f'"name":"{name}"') > 0


@dataclass(frozen=True)
class Proposal:
    """One proposed revision, old (the page's live value) next to new."""

    id: int
    page_id: int
    url: str
    job_id: int | None
    old_title: str | None
    old_description: str | None
    old_title_px: float | None
    old_description_px: float | None
    title: str | None
    description: str | None
    title_px: float | None
    description_px: float | None
    flagged: bool
    reason: str | None
    checks: list[dict[str, Any]] | None
    repairs: list[dict[str, Any]] | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["created_at"] = _db.iso(self.created_at)
        return data


def _proposals(filter_: Filter) -> peewee.ModelSelect[PageRevision]:
    r = PageRevision
    live = PageRevision.alias("live")
    return (
        r.select(r.id, r.page_id, Page.url, r.job_id, Page.seo_title, Page.seo_description,
                 live.title_px, live.description_px, r.title, r.description, r.title_px,
                 r.description_px, r.flagged, r.reason, r.checks, r.repairs, r.created_at)
        .join(Page, on=(Page.id == r.page_id))
        .join(live, JOIN.LEFT_OUTER, on=((live.page_id == r.page_id) & (live.state == State.PUBLISHED)),
              src=r)
        .where((r.state == State.PROPOSED) & filter_.condition())
    )


def list_proposed(filter_: Filter = Filter(), *, after_id: int = 0, limit: int = 50) -> list[Proposal]:
    """One page of proposals in id order, after ``after_id`` (keyset: a million stay fast;
    the ``(state, id)`` and ``(job_id, state, id)`` indexes answer)."""
    r = PageRevision
    query = _proposals(filter_).where(r.id > after_id).order_by(r.id).limit(max(1, min(limit, 1000)))
    out = []
    for row in database.execute(query).fetchall():
        row = list(row)
        for i in (14, 15):
            row[i] = PageRevision.checks.python_value(row[i])
        row[12] = bool(row[12])
        row[16] = r.created_at.python_value(row[16])
        out.append(Proposal(*row))
    return out


def count_proposed(filter_: Filter = Filter()) -> int:
    """How many proposals a decision by ``filter_`` would cover (for a confirmation)."""
    return int(_proposals(filter_).count())


#: Above this many matches a confirmation stops counting (see ``count_proposed_upto``).
COUNT_CAP = 10_000


@dataclass(frozen=True)
class ProposalCount:
    """How many proposals a filter matches, for a confirmation that must answer at once."""

    #: The exact number when ``exact``; otherwise the cap it reached (a lower bound).
    n: int
    exact: bool
    #: PostgreSQL's planner estimate of the whole, when over the cap and above it (else None).
    estimate: int | None = None


def count_proposed_upto(filter_: Filter = Filter(), cap: int = COUNT_CAP) -> ProposalCount:
    """``count_proposed`` that stops at ``cap``: exact up to it, beyond it "more than cap"
    with the planner's estimate when that is above the cap too. A full COUNT over a
    million proposals takes 0.2-1.9 s on PostgreSQL (a host filter the slowest); counting
    at most ``cap + 1`` ids costs about what the filter's first page does. The page is
    joined only for a language or host filter, the live revision never (neither changes
    how many match: a hash join over every page cost 200 ms of a job filter's count)."""
    r = PageRevision
    matching = r.select(r.id)
    if filter_.language is not None or filter_.host is not None:  # condition() reads the page's columns
        matching = matching.join(Page, on=(Page.id == r.page_id))
    matching = matching.where((r.state == State.PROPOSED) & filter_.condition())
    n = int(peewee.Select([matching.limit(cap + 1).alias("m")], [peewee.fn.COUNT(SQL("*"))])
            .bind(database).scalar())
    if n <= cap:
        return ProposalCount(n, True)
    estimate = None
    if _db.is_postgres():
        plan = database.execute(peewee.NodeList((SQL("EXPLAIN (FORMAT JSON)"), matching))).fetchone()[0]
        rows = int((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"])
        estimate = rows if rows > cap else None
    return ProposalCount(cap, False, estimate)


def _explain_ids(ids: Sequence[int]) -> None:
    """Raise the one-line reason why any of ``ids`` cannot be decided on."""
    r = PageRevision
    found = {row.id: row for row in r.select(r.id, r.page_id, r.state, r.source).where(_sql.any_of(r.id, list(ids)))}
    for rid in ids:
        row = found.get(rid)
        if row is None:
            raise InputError(f"revision {rid} does not exist; nothing changed")
        if row.state == State.PROPOSED:
            continue
        if row.state == State.SUPERSEDED and row.source == Source.GENERATED:
            newest = r.select(peewee.fn.MAX(r.id)).where(
                (r.page_id == row.page_id) & (r.source == Source.GENERATED)).scalar()
            url = Page.select(Page.url).where(Page.id == row.page_id).scalar()
            raise InputError(f"revision {rid} is no longer the newest for {url} (revision {newest} is); "
                             "nothing changed")
        raise InputError(f"revision {rid} is {row.state}, not proposed; nothing changed")


def _targets(filter_: Filter, verb: str) -> peewee.ModelSelect[PageRevision]:
    """The ids the decision covers, after checking there is at least one."""
    if filter_.ids:
        _explain_ids(filter_.ids)
    query = _proposals(filter_)
    if not query.exists():
        raise InputError(f"no proposed revision matches {filter_.describe()}; nothing to {verb}")
    return PageRevision.select(PageRevision.id).join(Page, on=(Page.id == PageRevision.page_id)).where(
        (PageRevision.state == State.PROPOSED) & filter_.condition())


@dataclass(frozen=True)
class Decision:
    verb: str
    count: int
    by: str
    at: datetime
    skipped_locked: int = 0
    change_id: str | None = None

    def describe(self) -> str:
        text = f"{self.verb} {self.count} revision{'s' if self.count != 1 else ''} (by {self.by})"
        if self.skipped_locked:
            text += f"; {self.skipped_locked} left proposed: their page is locked (seo_locked)"
        return text


def reject(filter_: Filter, *, by: str) -> Decision:
    """Reject the proposals ``filter_`` names: the pages keep their published values."""
    now = utcnow()
    with _db.write_transaction():
        targets = _targets(filter_, "reject")
        r = PageRevision
        n = r.update(state=State.REJECTED, decided_at=now, decided_by=by).where(
            r.id.in_(targets) & (r.state == State.PROPOSED)).execute()
    return Decision("rejected", int(n), by, now)


def approve(filter_: Filter, *, by: str, chunk_size: int = 1000) -> Decision:
    """Publish the proposals ``filter_`` names (not those of locked pages) and write one
    ``pages_published`` event."""
    r = PageRevision
    now = utcnow()
    change = f"approve-{secrets.token_hex(6)}"
    with _db.write_transaction():
        targets = _targets(filter_, "approve")
        locked_pages = Page.select(Page.id).where(Page.seo_locked == True)  # noqa: E712  (peewee: == builds the SQL)
        if filter_.ids:
            url = (Page.select(Page.url).join(r, on=(r.page_id == Page.id))
                   .where(r.id.in_(targets) & Page.id.in_(locked_pages)).scalar())
            if url:
                raise InputError(f"{url} is locked (seo_locked): its SEO is edited by hand; nothing changed")
        _sql.own_pages()
        marked = r.update(state=State.APPROVED, decided_at=now, decided_by=by, change_id=change).where(
            r.id.in_(targets) & (r.state == State.PROPOSED) & r.page.not_in(locked_pages)).execute()
        skipped = int(r.select().where(r.id.in_(targets) & (r.state == State.PROPOSED)).count())
        if not marked:
            raise InputError(f"every proposal matching {filter_.describe()} is for a locked page; nothing changed")
        approved = (r.change_id == change) & (r.state == State.APPROVED)
        live = PageRevision.alias("live")
        # It replaces the live one; a page with none keeps what the stage named (its original).
        replaced = live.select(live.id).where((live.page_id == r.page_id) & (live.state == State.PUBLISHED))
        r.update(replaces_id=peewee.fn.COALESCE(replaced, r.replaces_id)).where(approved).execute()
        mine = r.select(r.page_id).where(approved)
        r.update(state=State.SUPERSEDED).where((r.state == State.PUBLISHED) & r.page.in_(mine)).execute()
        r.update(state=State.PUBLISHED, published_at=now).where(approved).execute()
        copy_live_fields(change, now)
        record_event("pages_published", change, chunk_size, published=int(marked))
    return Decision("approved", int(marked), by, now, skipped_locked=skipped, change_id=change)


def copy_live_fields(change: str, now: datetime) -> int:
    """Pages whose published revision came from ``change`` get its text: one UPDATE … FROM.
    (The generation bookkeeping stays: what was generated last is still what it was.)"""
    r = PageRevision
    return int(Page.update(
        seo_title=r.title, seo_description=r.description, updated_at=now,
    ).from_(r).where((r.page_id == Page.id) & (r.change_id == change) & (r.state == State.PUBLISHED)).execute())


def record_event(name: str, change: str, chunk_size: int, jobs: Sequence[int] = (), **counts: Any) -> None:
    """One page event for a change, on the first job it covers (the outbox keys rows by
    job; ``job_ids`` lists them all): subscribers read its pages by ``change_id``."""
    r = PageRevision
    if not jobs:
        jobs = [j for (j,) in _db.tuples(r.select(r.job_id).where(r.change_id == change).distinct()) if j is not None]
    if not jobs:
        return
    job = SeoBatchJob.get_by_id(min(jobs))
    outbox.record(job, name, job_ids=sorted(jobs), **page_event_data(change, job.id, chunk_size, **counts))


def export_proposed(*, chunk_size: int = 1000) -> Iterator[dict[str, Any]]:
    """The proposals as ``pages export`` rows (url, title, seo_title, seo_description,
    seo_model, seo_generated_at), by revision id, one keyset page per query."""
    r = PageRevision
    last = 0
    while True:
        rows = list(_db.tuples(r.select(r.id, Page.url, Page.title, r.title, r.description, r.model, r.created_at)
                    .join(Page, on=(Page.id == r.page_id))
                    .where((r.state == State.PROPOSED) & (r.id > last))
                    .order_by(r.id).limit(chunk_size)))
        for _, url, title, seo_title, seo_description, model, at in rows:
            yield {"url": url, "title": title, "seo_title": seo_title, "seo_description": seo_description,
                   "seo_model": model, "seo_generated_at": _db.iso(at)}
        if len(rows) < chunk_size:
            return
        last = rows[-1][0]
