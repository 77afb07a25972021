"""Query pieces the revision modules share: page locks, JSON keys, ``IN`` lists, publishing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import peewee
from peewee import SQL

from .. import db as _db
from ..db import database
from ..models import Page, PageRevision
from ..publishing import State


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """``column IN (…)``; on PostgreSQL ``= ANY(%s)`` with one array parameter."""
    if _db.is_postgres():
        return column == SQL("ANY(%s)", (list(values),))
    return column.in_(list(values))


def json_text(field: Any, key: str) -> Any:
    """The text at ``key`` of a JSON column, on either database."""
    if _db.is_postgres():
        return peewee.fn.jsonb_extract_path_text(field, key)  # ``->>`` would JSON-encode the key
    return peewee.fn.json_extract(field, f"$.{key}")


#: The advisory lock (PostgreSQL) between writers of published revisions: each results
#: chunk holds it shared, a decision or a rollback exclusive. Two results stages never
#: share a page (the collector skips pages busy in another active job), so chunks need
#: nothing stronger between them, and no page row is locked or written for it.
_PUBLISH_LOCK = 0x5E0B7E71


def share_pages() -> None:
    """A results chunk's side of the publish lock, until its transaction ends."""
    if _db.is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock_shared(%s)", (_PUBLISH_LOCK,))


def own_pages() -> None:
    """A decision's or a rollback's side: waits for the chunks being saved, holds off the next ones."""
    if _db.is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))


def locked_pages(page_ids: Iterable[int]) -> set[int]:
    """The ids among ``page_ids`` of pages edited by hand (``seo_locked``)."""
    ids = list(set(page_ids))
    if not ids:
        return set()
    locked = Page.seo_locked == True  # noqa: E712  (peewee: == builds the SQL)
    query = Page.select(Page.id).where(any_of(Page.id, ids) & locked)
    return {page_id for (page_id,) in database.execute(query).fetchall()}


def current_published(page_ids: Sequence[int]) -> dict[int, int]:
    """page id → the revision a new one replaces: its published one, else its original
    (so a rollback of a page's first generated value goes back to the import's title)."""
    if not page_ids:
        return {}
    r = PageRevision
    query = r.select(r.page_id, r.id, r.state).where(
        any_of(r.page_id, page_ids) & ((r.state == State.PUBLISHED) | (r.source == "original")))
    found: dict[int, int] = {}
    for page_id, rid, state in database.execute(query).fetchall():
        if state == State.PUBLISHED or page_id not in found:
            found[page_id] = rid
    return found


def ensure_originals(page_ids: Sequence[int], now: datetime) -> int:
    """Give every page among ``page_ids`` without a revision its original (the import's
    title): nothing is overwritten without a revision that restores it. One INSERT … SELECT."""
    if not page_ids:
        return 0
    r = PageRevision
    has_any = r.select(SQL("1")).where(r.page_id == Page.id)
    source = Page.select(
        Page.id, Page.title, peewee.Value(State.SUPERSEDED.value), peewee.Value("original"),
        peewee.Value(now), peewee.Value(False),
    ).where(any_of(Page.id, page_ids) & ~peewee.fn.EXISTS(has_any))
    return int(r.insert_from(source, [r.page, r.title, r.state, r.source, r.created_at, r.flagged])
               .as_rowcount().execute())
