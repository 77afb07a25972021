"""The SQL of one results chunk's revisions: a temporary table of the chunk's replies, and
the few statements that turn it into revisions and live page fields.

The chunk's replies go into ``seobatch_replies`` in one write (COPY on PostgreSQL, one
``executemany`` on SQLite); everything after that is set-based SQL over it, so no value
is formatted twice in Python and no per-page lookup comes back to Python:

1. originals for pages that have no revision yet (the import's title);
2. what each reply replaces (the page's published revision, else its original) noted on
   the reply, and what it supersedes moved to ``superseded`` (proposals always, the
   published one where the reply publishes) — one statement on PostgreSQL: both read
   the same snapshot, so the note sees the published revision the update supersedes;
3. the revisions inserted and the pages updated — one statement on PostgreSQL.

SQLite has no data-modifying CTEs: the same steps run as five statements and a DELETE.
The gate's checks, repairs and widths are read in SQL from the verdict's JSON (the one
the item stores), not encoded again per reply.

Every statement is constant text; the vocabulary (states, sources) travels as parameters.
"""

from __future__ import annotations

#: The reply columns, in the order of the rows ``publish.save_generated`` writes.
REPLY_COLUMNS = (
    "page_id", "item_id", "title", "description", "model", "at", "content_hash", "prompt_version",
    "verdict", "pub", "state", "reason", "flagged", "site", "title_key", "description_key",
    "skeleton_key", "h1_key",
)

# --------------------------------------------------------------------------- PostgreSQL

#: Per connection, emptied at each commit (no DELETE per chunk, no catalog churn per chunk).
PG_CREATE = (
    "CREATE TEMP TABLE IF NOT EXISTS seobatch_replies ("
    "page_id bigint NOT NULL, item_id bigint, title text, description text, model text, at timestamp, "
    "content_hash text, prompt_version text, verdict jsonb, pub boolean NOT NULL, state text NOT NULL, "
    "reason text, flagged boolean NOT NULL, site text, title_key bigint, description_key bigint, "
    "skeleton_key bigint, h1_key bigint, replaces_id bigint) ON COMMIT DELETE ROWS"
)
PG_COPY = (
    "COPY seobatch_replies (page_id, item_id, title, description, model, at, content_hash, prompt_version, "
    "verdict, pub, state, reason, flagged, site, title_key, description_key, skeleton_key, h1_key) FROM STDIN"
)
#: The publish lock (shared) and the chunk's locked pages, in one round trip.
PG_LOCK_AND_LOCKED = (
    "SELECT pg_advisory_xact_lock_shared(%s), "
    "ARRAY(SELECT id FROM seo_pages WHERE id = ANY(%s) AND seo_locked)"
)
PG_ORIGINALS = (
    "INSERT INTO seo_page_revisions (page_id, title, state, source, created_at, flagged) "
    "SELECT p.id, p.title, %(superseded)s, %(original)s, %(now)s, FALSE "
    "FROM seobatch_replies s JOIN seo_pages p ON p.id = s.page_id "
    "WHERE NOT EXISTS (SELECT 1 FROM seo_page_revisions r WHERE r.page_id = s.page_id)"
)
PG_SUPERSEDE = (
    "WITH superseded AS ("
    "UPDATE seo_page_revisions AS r SET state = %(superseded)s FROM seobatch_replies s "
    "WHERE r.page_id = s.page_id AND (r.state = %(proposed)s OR (s.pub AND r.state = %(published)s))) "
    "UPDATE seobatch_replies s SET replaces_id = COALESCE("
    "(SELECT r.id FROM seo_page_revisions r WHERE r.page_id = s.page_id AND r.state = %(published)s), "
    "(SELECT r.id FROM seo_page_revisions r WHERE r.page_id = s.page_id AND r.source = %(original)s "
    "ORDER BY r.id LIMIT 1))"
)
_REVISION_INSERT = (
    "INSERT INTO seo_page_revisions (page_id, job_id, item_id, title, description, state, source, model, "
    "prompt_version, checks, repairs, title_px, description_px, flagged, reason, created_at, decided_at, "
    "decided_by, published_at, replaces_id, change_id) "
)
#: A page sent again for a duplicate (``seo_avoid``) keeps its attempts: a group that keeps
#: coming back the same must run out of them like any other failure. The fingerprints
#: describe the live text: they move with it (the site stage reads them). The generation
#: bookkeeping moves for every stored reply, so a held reply is not paid for again.
_PAGE_SET = (
    "UPDATE seo_pages AS t SET "
    "seo_title = CASE WHEN v.pub THEN v.title ELSE t.seo_title END, "
    "seo_description = CASE WHEN v.pub THEN v.description ELSE t.seo_description END, "
    "seo_model = v.model, seo_generated_at = v.at, seo_content_hash = v.content_hash, "
    "seo_prompt_version = v.prompt_version, "
    "seo_attempts = CASE WHEN t.seo_avoid IS NULL THEN 0 ELSE t.seo_attempts END, "
    "seo_last_error = NULL, updated_at = v.at, "
    "seo_site = CASE WHEN v.pub THEN v.site ELSE t.seo_site END, "
    "seo_title_key = CASE WHEN v.pub THEN v.title_key ELSE t.seo_title_key END, "
    "seo_description_key = CASE WHEN v.pub THEN v.description_key ELSE t.seo_description_key END, "
    "seo_skeleton_key = CASE WHEN v.pub THEN v.skeleton_key ELSE t.seo_skeleton_key END, "
    "seo_h1_key = CASE WHEN v.pub THEN v.h1_key ELSE t.seo_h1_key END, "
    "seo_avoid = NULL "
    "FROM seobatch_replies v WHERE t.id = v.page_id AND (v.reason IS NULL OR v.reason <> "
)
PG_INSERT_AND_PAGES = (
    "WITH inserted AS ("
    + _REVISION_INSERT
    + "SELECT s.page_id, %(job)s, s.item_id, s.title, s.description, s.state, %(generated)s, s.model, "
    "s.prompt_version, s.verdict -> 'checks', s.verdict -> 'repairs', "
    "(s.verdict #>> '{widths,title_px}')::float8, (s.verdict #>> '{widths,description_px}')::float8, "
    "s.flagged, s.reason, %(now)s, CASE WHEN s.state = %(rejected)s THEN %(now)s END, "
    "CASE WHEN s.state = %(rejected)s THEN %(system)s END, CASE WHEN s.pub THEN %(now)s END, "
    "s.replaces_id, CASE WHEN s.pub THEN %(change)s END "
    "FROM seobatch_replies s ORDER BY s.page_id) "
    + _PAGE_SET
    + "%(gate)s)"
)

# --------------------------------------------------------------------------- SQLite

SQLITE_CREATE = (
    "CREATE TEMP TABLE IF NOT EXISTS seobatch_replies ("
    "page_id INTEGER NOT NULL, item_id INTEGER, title TEXT, description TEXT, model TEXT, at DATETIME, "
    "content_hash TEXT, prompt_version TEXT, verdict TEXT, pub INTEGER NOT NULL, state TEXT NOT NULL, "
    "reason TEXT, flagged INTEGER NOT NULL, site TEXT, title_key INTEGER, description_key INTEGER, "
    "skeleton_key INTEGER, h1_key INTEGER, replaces_id INTEGER)"
)
SQLITE_FILL = (
    "INSERT INTO seobatch_replies (page_id, item_id, title, description, model, at, content_hash, "
    "prompt_version, verdict, pub, state, reason, flagged, site, title_key, description_key, skeleton_key, "
    "h1_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQLITE_ORIGINALS = (
    "INSERT INTO seo_page_revisions (page_id, title, state, source, created_at, flagged) "
    "SELECT p.id, p.title, :superseded, :original, :now, 0 "
    "FROM seobatch_replies s JOIN seo_pages p ON p.id = s.page_id "
    "WHERE NOT EXISTS (SELECT 1 FROM seo_page_revisions r WHERE r.page_id = s.page_id)"
)
SQLITE_REPLACES = (
    "UPDATE seobatch_replies SET replaces_id = COALESCE("
    "(SELECT r.id FROM seo_page_revisions r WHERE r.page_id = seobatch_replies.page_id "
    "AND r.state = :published), "
    "(SELECT r.id FROM seo_page_revisions r WHERE r.page_id = seobatch_replies.page_id "
    "AND r.source = :original ORDER BY r.id LIMIT 1))"
)
SQLITE_SUPERSEDE = (
    "UPDATE seo_page_revisions AS r SET state = :superseded FROM seobatch_replies s "
    "WHERE r.page_id = s.page_id AND (r.state = :proposed OR (s.pub AND r.state = :published))"
)
SQLITE_INSERT = (
    _REVISION_INSERT
    + "SELECT s.page_id, :job, s.item_id, s.title, s.description, s.state, :generated, s.model, "
    "s.prompt_version, json_extract(s.verdict, '$.checks'), json_extract(s.verdict, '$.repairs'), "
    "json_extract(s.verdict, '$.widths.title_px'), json_extract(s.verdict, '$.widths.description_px'), "
    "s.flagged, s.reason, :now, CASE WHEN s.state = :rejected THEN :now END, "
    "CASE WHEN s.state = :rejected THEN :system END, CASE WHEN s.pub THEN :now END, "
    "s.replaces_id, CASE WHEN s.pub THEN :change END "
    "FROM seobatch_replies s ORDER BY s.page_id"
)
SQLITE_PAGES = _PAGE_SET + ":gate)"
SQLITE_CLEAR = "DELETE FROM seobatch_replies"
