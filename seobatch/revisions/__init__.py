"""Revisions: nothing reaches a page's live SEO fields without a trail that restores it.

Every valid reply becomes a revision of its page (``PageRevision``: title, description,
the job, item, model and prompt version that made it, the gate's checks, repairs and
pixel widths). A revision is proposed, approved, rejected, published, superseded or
rolled back (``State``); a page has at most one published revision (a partial unique
index on both databases) and its ``seo_title``/``seo_description`` are always that
revision's. Each page also keeps its original (the import's title), so a rollback
always has somewhere to go.

- ``publish``: the results stage's side (``save_generated`` per chunk, the policy
  ``SEOBATCH_PUBLISH``, the change budget ``SEOBATCH_MAX_CHANGES``, locked pages);
- ``review``: list, approve and reject proposals (one, many by filter, all);
- ``rollback``: undo a job or a run, diff a job, read a change's pages in chunks.

Page events (``pages_published``, ``pages_rolled_back``) go through the job outbox:
after commit, at least once, with ``event_id``; their data names a ``change_id`` that
``changed_pages`` reads a chunk at a time.
"""

from __future__ import annotations

from ..publishing import ChangeBudget, Policy, Reason, Source, State
from ._sql import share_pages
from .publish import (
    Generated,
    Publishing,
    record_published,
    save_generated,
    stage_counts,
)
from .review import (
    COUNT_CAP,
    Decision,
    Filter,
    Proposal,
    ProposalCount,
    approve,
    count_proposed,
    count_proposed_upto,
    export_proposed,
    list_proposed,
    reject,
)
from .rollback import (
    Change,
    ChangedPage,
    RollbackPlan,
    changed_pages,
    diff,
    resolve_jobs,
    rollback,
)

__all__ = [
    "Change", "ChangeBudget", "ChangedPage", "Decision", "Filter", "Generated", "Policy", "Proposal",
    "Publishing", "Reason", "RollbackPlan", "Source", "State", "approve", "changed_pages",
    "COUNT_CAP", "ProposalCount", "count_proposed", "count_proposed_upto",
    "diff", "export_proposed", "list_proposed", "record_published", "reject", "resolve_jobs",
    "rollback", "save_generated", "share_pages", "stage_counts",
]
