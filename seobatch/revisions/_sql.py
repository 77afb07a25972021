"""Query pieces the revision modules share: page locks, JSON keys, ``IN`` lists, publishing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from peewee import SQL

from .. import db as _db
from ..db import database
from ..models import Page


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column IN (…)``; on PostgreSQL ``= ANY(%s)`` with one array parameter."""
    if _db.is_postgres():
        return column == SQL("ANY(%s)", (list(values),))
    return column.in_(list(values))


#: The advisory lock (PostgreSQL) between writers of pages and their revisions: each results
#: chunk, and the stage's settling of its missing items, holds it shared; a decision or a
#: rollback exclusive (so their page writes never interleave and deadlock). Two results
#: stages never share a page (the collector skips pages busy in another active job), so
#: chunks need nothing stronger between them, and no page row is locked or written for it.
PUBLISH_LOCK = 0x5E0B7E71


def share_pages() -> None:
    """A results chunk's side of the publish lock, until its transaction ends."""
    if _db.is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock_shared(%s)", (PUBLISH_LOCK,))


def own_pages() -> None:
    """A decision's or a rollback's side: waits for the chunks being saved, holds off the next ones."""
    if _db.is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))


def locked_pages(page_ids: Iterable[int]) -> set[int]:
    """The ids among ``page_ids`` of pages edited by hand (``seo_locked``)."""
    ids = list(set(page_ids))
    if not ids:
        return set()
    locked = Page.seo_locked == True  # noqa: E712  (peewee: == builds the SQL)
    query = Page.select(Page.id).where(any_of(Page.id, ids) & locked)
    return {page_id for (page_id,) in database.execute(query).fetchall()}
