"""The results stage's half: each saved chunk's valid replies become revisions.

``save_generated`` runs inside the chunk's transaction, after the items are locked, with
a handful of set-based statements whatever the chunk's size: lock the chunk's pages
(in id order, reading which are ``seo_locked``), give pages without a revision their
original, supersede what the new revisions replace, insert the revisions (one
multi-row INSERT), and update the pages: the live SEO fields only where a revision
was published, the generation bookkeeping (model, time, content hash, prompt version,
attempts) everywhere, so a held reply is not paid for again next night. Approvals and
rollbacks change the live text only: a rolled-back page is not regenerated with the
same prompt the next night (a fixed prompt, a new prompt version, regenerates it).

What is published at once follows ``SEOBATCH_PUBLISH`` (``Policy``) and the run's
change budget (``SEOBATCH_MAX_CHANGES``); a locked page is never overwritten (its
revision is stored ``rejected``, reason ``seo_locked``). A page keeps one proposal at
a time: a newer reply supersedes the older proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import peewee

from .. import db as _db
from .. import jobmeta as jm
from .. import outbox
from ..bulk import bulk_update, copy_rows
from ..db import database
from ..models import Page, PageRevision, SeoBatchJob
from ..publishing import SYSTEM, ChangeBudget, Policy, Reason, Source, State, stage_change
from . import _sql

if TYPE_CHECKING:
    from ..config import Settings

#: Namespace of the advisory lock that serialises one run's budget (PostgreSQL).
_BUDGET_LOCK = 0x5E0B4D6E


class Generated(NamedTuple):
    """One valid reply of a chunk, as the results stage hands it over."""

    page_id: int
    title: str
    description: str
    model: str | None
    at: datetime
    content_hash: str | None
    prompt_version: str | None
    item_id: int | None = None
    #: The quality gate's verdict (``action``, ``checks``, ``repairs``, ``title_px``,
    #: ``description_px``), None before the gate.
    verdict: Any = None
    #: ``quality.fingerprint`` keys of this title and description (site, title, description,
    #: skeleton, h1), written on the page with the text they describe; None before the gate.
    fingerprints: tuple[Any, Any, Any, Any, Any] | None = None


@dataclass
class Publishing:
    """What one results stage may publish: the policy, and the run's budget."""

    policy: Policy = Policy.AUTO
    budget: ChangeBudget = field(default_factory=ChangeBudget)
    #: The budget in pages, resolved once per stage (a percentage needs the site's size).
    limit: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Publishing:
        budget = ChangeBudget.parse(settings.max_changes)
        limit = budget.pages(Page.select().count()) if budget.percent is not None else budget.count
        return cls(policy=Policy(settings.publish), budget=budget, limit=limit)

    def allowance(self, job: SeoBatchJob) -> int | None:
        """Pages this job may still publish tonight (None: no limit). Call inside the
        chunk's transaction: on PostgreSQL it takes the run's lock until the commit."""
        if self.limit is None:
            return None
        run = (job.metadata or {}).get(jm.RUN)
        if _db.is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_BUDGET_LOCK, str(run)))
        jobs = SeoBatchJob.select(SeoBatchJob.id).where(
            (_sql.json_text(SeoBatchJob.metadata, jm.RUN) == str(run)) if run else (SeoBatchJob.id == job.id)
        )
        r = PageRevision
        used = r.select().where(r.job.in_(jobs) & r.published_at.is_null(False)
                                & (r.source == Source.GENERATED)).count()
        return max(0, self.limit - used)


def _decide(
    reply: Generated, locked: bool, publishing: Publishing, allowance: list[int | None]
) -> tuple[State, Reason | None, bool]:
    """(state, reason it waits, flagged) of one reply; ``allowance`` is the budget left."""
    action = getattr(reply.verdict, "action", "publish")
    flagged = action == "flag"
    if action == "reject":
        return State.REJECTED, Reason.GATE, flagged
    if locked:
        return State.REJECTED, Reason.LOCKED, flagged
    if publishing.policy == Policy.REVIEW:
        return State.PROPOSED, Reason.REVIEW, flagged
    if flagged and publishing.policy == Policy.FLAGGED:
        return State.PROPOSED, Reason.FLAGGED, flagged
    left = allowance[0]
    if left is not None:
        if left <= 0:
            return State.PROPOSED, Reason.BUDGET, flagged
        allowance[0] = left - 1
    return State.PUBLISHED, None, flagged


def _gate_columns(verdict: Any) -> tuple[Any, Any, float | None, float | None]:
    if verdict is None:
        return None, None, None, None
    to_json = PageRevision.checks.db_value
    checks = [c.to_dict() if hasattr(c, "to_dict") else c for c in getattr(verdict, "checks", ())]
    repairs = [c.to_dict() if hasattr(c, "to_dict") else c for c in getattr(verdict, "repairs", ())]
    return (to_json(checks), to_json(repairs), getattr(verdict, "title_px", None),
            getattr(verdict, "description_px", None))


#: A chunk's revisions go in with one COPY on PostgreSQL (no per-value work in peewee:
#: its INSERT of the same rows doubled the stage's CPU), one executemany on SQLite.
_REVISIONS_COPY = (
    "COPY seo_page_revisions (page_id, job_id, item_id, title, description, state, source, model, "
    "prompt_version, checks, repairs, title_px, description_px, flagged, reason, created_at, decided_at, "
    "decided_by, published_at, replaces_id, change_id) FROM STDIN"
)
_REVISIONS_INSERT_SQLITE = (
    "INSERT INTO seo_page_revisions (page_id, job_id, item_id, title, description, state, source, model, "
    "prompt_version, checks, repairs, title_px, description_px, flagged, reason, created_at, decided_at, "
    "decided_by, published_at, replaces_id, change_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: Generation bookkeeping (what was generated last: model, time, content hash, prompt
#: version; the collector reads these) for every stored reply; the live text only where published.
_PAGE_UPDATE_COLUMNS = (
    ("id", "bigint"), ("pub", "int"), ("title", "text"), ("description", "text"), ("model", "text"),
    ("at", "timestamp"), ("content_hash", "text"), ("prompt_version", "text"),
    ("site", "text"), ("title_key", "bigint"), ("description_key", "bigint"),
    ("skeleton_key", "bigint"), ("h1_key", "bigint"),
)
_PAGE_UPDATE_ASSIGNMENTS = (
    "seo_title = CASE WHEN v.pub = 1 THEN v.title ELSE t.seo_title END",
    "seo_description = CASE WHEN v.pub = 1 THEN v.description ELSE t.seo_description END",
    "seo_model = v.model", "seo_generated_at = v.at",
    "seo_content_hash = v.content_hash", "seo_prompt_version = v.prompt_version",
    # A page sent again for a duplicate (``seo_avoid``) keeps its attempts: a group that
    # keeps coming back the same must run out of them like any other failure.
    "seo_attempts = CASE WHEN t.seo_avoid IS NULL THEN 0 ELSE t.seo_attempts END",
    "seo_last_error = NULL", "updated_at = v.at",
    # The fingerprints describe the live text: they move with it (the site stage reads them).
    "seo_site = CASE WHEN v.pub = 1 THEN v.site ELSE t.seo_site END",
    "seo_title_key = CASE WHEN v.pub = 1 THEN v.title_key ELSE t.seo_title_key END",
    "seo_description_key = CASE WHEN v.pub = 1 THEN v.description_key ELSE t.seo_description_key END",
    "seo_skeleton_key = CASE WHEN v.pub = 1 THEN v.skeleton_key ELSE t.seo_skeleton_key END",
    "seo_h1_key = CASE WHEN v.pub = 1 THEN v.h1_key ELSE t.seo_h1_key END",
    "seo_avoid = NULL",
)


def save_generated(job: SeoBatchJob, replies: Sequence[Generated], publishing: Publishing) -> dict[State, int]:
    """Store one chunk's valid replies as revisions and publish what the policy allows.
    Runs inside the caller's transaction. Returns how many went to each state."""
    if not replies:
        return {}
    page_ids = [reply.page_id for reply in replies]
    _sql.share_pages()
    locked = _sql.locked_pages(page_ids)
    allowance = [publishing.allowance(job)]
    decisions = [_decide(reply, reply.page_id in locked, publishing, allowance) for reply in replies]
    now = replies[0].at
    _sql.ensure_originals(page_ids, now)
    current = _sql.current_published(page_ids)
    publishing_pages = [reply.page_id for reply, (state, _, _) in zip(replies, decisions, strict=False)
                        if state == State.PUBLISHED]
    r = PageRevision
    # A page keeps one proposal: a newer reply supersedes it, as it supersedes what it
    # publishes over. Two statements, each led by the page ids (an OR of the two made the
    # planner walk the (state, id) index over every published row of the site).
    r.update(state=State.SUPERSEDED).where(
        _sql.any_of(r.page_id, page_ids) & (r.state == State.PROPOSED)).execute()
    if publishing_pages:
        r.update(state=State.SUPERSEDED).where(
            _sql.any_of(r.page_id, publishing_pages) & (r.state == State.PUBLISHED)).execute()
    change = stage_change(job.id)
    rows = []
    pages = []
    counts: dict[State, int] = {}
    for reply, (state, reason, flagged) in zip(replies, decisions, strict=False):
        counts[state] = counts.get(state, 0) + 1
        published = state == State.PUBLISHED
        decided = state == State.REJECTED
        rows.append((
            reply.page_id, job.id, reply.item_id, reply.title, reply.description, state.value,
            Source.GENERATED.value, reply.model, reply.prompt_version, *_gate_columns(reply.verdict),
            bool(flagged), reason.value if reason else None, now, now if decided else None,
            SYSTEM if decided else None, now if published else None, current.get(reply.page_id),
            change if published else None,
        ))
        if reason != Reason.GATE:  # a gate reject leaves the page to be tried again
            pages.append((reply.page_id, 1 if published else 0, reply.title, reply.description,
                          reply.model, reply.at, reply.content_hash, reply.prompt_version,
                          *(reply.fingerprints or (None,) * 5)))
    if _db.is_postgres():
        copy_rows(_REVISIONS_COPY, rows)
    else:
        database.cursor().executemany(_REVISIONS_INSERT_SQLITE, rows)

    bulk_update("seo_pages", key="id", columns=_PAGE_UPDATE_COLUMNS,
                assignments=_PAGE_UPDATE_ASSIGNMENTS, rows=pages)
    return counts


def stage_counts(job_id: int) -> dict[str, Any]:
    """Where a job's revisions stand now: published (flagged among them), proposed (by
    reason), refused for a locked page, rejected by the gate. One GROUP BY."""
    r = PageRevision
    query = (_db.tuples(r.select(r.state, r.reason, r.flagged, peewee.fn.COUNT(r.id))
             .where((r.job == job_id) & (r.source == Source.GENERATED))
             .group_by(r.state, r.reason, r.flagged)))
    counts: dict[str, Any] = {"published": 0, "flagged": 0, "proposed": 0, "held": {}, "locked": 0,
                              "gate_rejected": 0}
    for state, reason, flagged, n in query:
        n = int(n)
        if state == State.PUBLISHED:
            counts["published"] += n
            counts["flagged"] += n if flagged else 0
        elif state == State.PROPOSED:
            counts["proposed"] += n
            counts["held"][reason] = counts["held"].get(reason, 0) + n
        elif reason == Reason.LOCKED:
            counts["locked"] += n
        elif reason == Reason.GATE:
            counts["gate_rejected"] += n
    return counts


def record_published(job: SeoBatchJob, chunk_size: int = 1000) -> dict[str, Any] | None:
    """Inside the transaction that completes ``job``: write its ``pages_published`` event
    when the stage published anything. Subscribers read the pages with
    ``revisions.changed_pages(change_id, job_id=…)`` a chunk at a time."""
    counts = stage_counts(job.id)
    if not counts["published"]:
        return None
    extra = page_event_data(stage_change(job.id), job.id, chunk_size, **counts)
    outbox.record(job, "pages_published", **extra)
    return extra


def page_event_data(change_id: str, job_id: int, chunk_size: int, **counts: Any) -> dict[str, Any]:
    """The keyword data of ``pages_published``/``pages_rolled_back`` besides the job's own."""
    return {
        **counts,
        "change_id": change_id,
        "read": {"call": "seobatch.revisions.changed_pages", "change_id": change_id,
                 "job_id": job_id, "chunk_size": chunk_size, "after_page_id": 0},
    }
