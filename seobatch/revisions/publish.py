"""The results stage's half: each saved chunk's valid replies become revisions.

``save_generated`` runs inside the chunk's transaction, after the items are locked. The
chunk's replies go into a temporary table in one write (COPY on PostgreSQL); the rest is
set-based SQL over that table (``_replies``), whatever the chunk's size: give pages
without a revision their original, note what each reply replaces while superseding it,
then insert the revisions and update the pages in one statement: the live SEO fields
only where a revision was published, the generation bookkeeping (model, time, content
hash, prompt version, attempts) everywhere, so a held reply is not paid for again next
night. Python decides each reply's state (policy, budget, locked page) and nothing else.
Approvals and rollbacks change the live text only: a rolled-back page is not regenerated
with the same prompt the next night (a fixed prompt, a new prompt version, regenerates it).

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
from ..bulk import copy_rows
from ..db import database
from ..models import Page, PageRevision, SeoBatchJob
from ..publishing import SYSTEM, ChangeBudget, Policy, Reason, Source, State, stage_change
from . import _replies, _sql

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
    #: The verdict as the item stores it (JSON text), so it is not encoded twice; None: from ``verdict``.
    verdict_json: str | None = None


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
            (_db.json_text(SeoBatchJob.metadata, jm.RUN) == str(run)) if run else (SeoBatchJob.id == job.id)
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


def _verdict_json(reply: Generated) -> str | None:
    """The verdict as JSON text (checks, repairs, widths): the item's own encoding when the
    results stage hands it over, else made here once."""
    if reply.verdict_json is not None or reply.verdict is None:
        return reply.verdict_json
    verdict = reply.verdict
    if hasattr(verdict, "to_dict"):
        return _to_json(verdict.to_dict())
    found = [c.to_dict() if hasattr(c, "to_dict") else c for c in getattr(verdict, "checks", ())]
    repairs = [c.to_dict() if hasattr(c, "to_dict") else c for c in getattr(verdict, "repairs", ())]
    widths = {"title_px": getattr(verdict, "title_px", None),
              "description_px": getattr(verdict, "description_px", None)}
    return _to_json({"checks": found, "repairs": repairs, "widths": widths})


_to_json = PageRevision.checks.db_value
_NO_FINGERPRINTS = (None,) * 5


def save_generated(job: SeoBatchJob, replies: Sequence[Generated], publishing: Publishing) -> dict[State, int]:
    """Store one chunk's valid replies as revisions and publish what the policy allows.
    Runs inside the caller's transaction. Returns how many went to each state.

    The replies go into a temporary table in one write; originals, what each replaces,
    supersession, the revisions and the pages' fields follow as set-based statements over
    it (``_replies``): six statements on PostgreSQL whatever the chunk's size."""
    if not replies:
        return {}
    pg = _db.is_postgres()
    page_ids = [reply.page_id for reply in replies]
    database.execute_sql(_replies.PG_CREATE if pg else _replies.SQLITE_CREATE)
    if pg:
        ((_, locked_ids),) = database.execute_sql(_replies.PG_LOCK_AND_LOCKED, (_sql.PUBLISH_LOCK, page_ids))
        locked = set(locked_ids)
    else:
        locked = _sql.locked_pages(page_ids)
    allowance = [publishing.allowance(job)]
    now = replies[0].at
    rows = []
    counts: dict[State, int] = {}
    for reply in replies:
        state, reason, flagged = _decide(reply, reply.page_id in locked, publishing, allowance)
        counts[state] = counts.get(state, 0) + 1
        rows.append((
            reply.page_id, reply.item_id, reply.title, reply.description, reply.model, reply.at,
            reply.content_hash, reply.prompt_version, _verdict_json(reply), state == State.PUBLISHED,
            state.value, reason.value if reason else None, bool(flagged),
            *(reply.fingerprints or _NO_FINGERPRINTS),
        ))
    params = {
        "now": now, "job": job.id, "change": stage_change(job.id), "system": SYSTEM,
        "published": State.PUBLISHED.value, "proposed": State.PROPOSED.value,
        "superseded": State.SUPERSEDED.value, "rejected": State.REJECTED.value,
        "original": Source.ORIGINAL.value, "generated": Source.GENERATED.value, "gate": Reason.GATE.value,
    }
    if pg:
        copy_rows(_replies.PG_COPY, rows)
        database.execute_sql(_replies.PG_ORIGINALS, params)
        database.execute_sql(_replies.PG_SUPERSEDE, params)
        database.execute_sql(_replies.PG_INSERT_AND_PAGES, params)
        return counts
    database.cursor().executemany(_replies.SQLITE_FILL, rows)
    for statement in (_replies.SQLITE_ORIGINALS, _replies.SQLITE_REPLACES, _replies.SQLITE_SUPERSEDE,
                      _replies.SQLITE_INSERT, _replies.SQLITE_PAGES):
        database.execute_sql(statement, params)
    database.execute_sql(_replies.SQLITE_CLEAR)
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
