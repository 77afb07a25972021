"""site: the site-level checks after a job's results are saved (seo-quality.md §3, §4).

In SQL over the pages' fingerprints (``seo_site``, ``seo_title_key`` …, written with the
title by the results stage), a few set-based statements, never a query per page or per
group (1M pages, 149k of them sent back: about 5 s on PostgreSQL, README):

- ``title_duplicate`` / ``description_duplicate``: two or more pages of one host and
  language with the same normalised title (description). One page of each group keeps
  it (the lowest id); every other page whose content differs from that page's is sent
  back: ``seo_avoid`` names the shared text, which its next prompt must avoid, and the
  night counts as a failed attempt (``SEOBATCH_MAX_ATTEMPTS`` bounds a group that keeps
  coming back the same). Pages with the same content as the keeper are duplicate pages,
  not duplicate titles: reported, not regenerated (a canonical is the fix). The groups
  are one temporary table, the pages to send back another; one UPDATE … FROM writes
  them all, a page in a title and a description group once, with both lines.
- ``title_template``: one template over many pages (the same skeleton, only the page's
  own words changed, in at least 20 pages or 5 % of the site, min. 3): reported.
- ``title_same_as_other_h1``: a title equal to another page's H1 (or imported title):
  reported.

Only groups that hold a page written tonight (``seo_generated_at`` since the job was
submitted) are looked at; the rest were judged on the night they were written. The
findings go into the job's metadata (``site_checks``);
``seobatch audit`` runs the same queries over any set of values (``site_findings``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from .. import db as _db
from .. import jobmeta as jm
from ..db import database
from ..jobmeta import JobStatus
from ..models import SeoBatchJob
from ._common import log
from .jobstate import update_metadata

if TYPE_CHECKING:
    from ..config import Settings

#: A template is a skeleton shared by this many pages, or this share of the site (at least
#: TEMPLATE_MIN_PAGES).
TEMPLATE_PAGES = 20
TEMPLATE_SHARE = 0.05
TEMPLATE_MIN_PAGES = 3

#: site check → (fingerprint column, the field it is about).
DUPLICATE_CHECKS = {
    "title_duplicate": ("seo_title_key", "title"),
    "description_duplicate": ("seo_description_key", "description"),
}
#: The tables the site stage keeps tonight's duplicate groups and the pages to send back
#: in (temporary, dropped before the transaction ends).
_GROUPS = "seobatch_site_groups"
_SEND_BACK_TABLE = "seobatch_site_send_back"


def _groups(table: str, column: str, having: str = "count(*) > 1") -> str:
    return (f"SELECT seo_site, {column} AS k, count(*) AS n, min(id) AS keeper FROM {table} "
            f"WHERE {column} IS NOT NULL GROUP BY seo_site, {column} HAVING {having}")


def _template_groups(table: str) -> str:
    """Skeleton groups big enough to be a template, with their size."""
    return (
        f"SELECT g.seo_site, g.k, g.n "
        f"FROM ({_groups(table, 'seo_skeleton_key', f'count(*) >= {TEMPLATE_MIN_PAGES}')}) g "
        f"JOIN (SELECT seo_site, count(*) AS total FROM {table} WHERE seo_site IS NOT NULL GROUP BY seo_site) s "
        f"ON s.seo_site = g.seo_site WHERE g.n >= {TEMPLATE_PAGES} OR g.n >= {TEMPLATE_SHARE} * s.total"
    )


def _findings_sql(table: str) -> dict[str, str]:
    """check → the query of (page id, url, group size) over ``table``, largest groups first."""
    queries = {
        check: (f"SELECT p.id, p.url, d.n FROM {table} p JOIN ({_groups(table, column)}) d "
                f"ON d.seo_site = p.seo_site AND d.k = p.{column} ORDER BY d.n DESC, p.id")
        for check, (column, _) in DUPLICATE_CHECKS.items()
    }
    queries["title_template"] = (f"SELECT p.id, p.url, d.n FROM {table} p JOIN ({_template_groups(table)}) d "
                                 "ON d.seo_site = p.seo_site AND d.k = p.seo_skeleton_key ORDER BY d.n DESC, p.id")
    queries["title_same_as_other_h1"] = (
        f"SELECT p.id, p.url, 1 FROM {table} p WHERE p.seo_title_key IS NOT NULL AND EXISTS (SELECT 1 FROM {table} b "
        "WHERE b.seo_site = p.seo_site AND b.seo_h1_key = p.seo_title_key AND b.id <> p.id) ORDER BY p.id")
    return queries


#: The audit's table of fingerprints (``seobatch/audit.py`` fills it): the same columns.
AUDIT_TABLE = "seobatch_audit_fp"
#: table → check → query: every statement is built here, at import, from these constants.
_FINDINGS = {table: _findings_sql(table) for table in ("seo_pages", AUDIT_TABLE)}

#: The site stage's statements; ``%s`` is the parameter mark (swapped for the driver's).
#: Groups with a page written tonight, one row each: ``f`` 1 for titles, 2 for
#: descriptions. One narrow aggregate per fingerprint column (its rows only: the
#: HAVING needs no join), never a query per page or per group.
_DROP_GROUPS = f"DROP TABLE IF EXISTS {_GROUPS}"
_FILL_GROUPS = (
    f"CREATE TEMPORARY TABLE {_GROUPS} AS "
    + " UNION ALL ".join(
        f"SELECT {f} AS f, seo_site, {column} AS k, count(*) AS n, min(id) AS keeper FROM seo_pages "
        f"WHERE {column} IS NOT NULL GROUP BY seo_site, {column} HAVING count(*) > 1 AND max(seo_generated_at) >= %s"
        for f, (column, _) in enumerate(DUPLICATE_CHECKS.values(), 1)
    )
)
_ANALYZE_GROUPS = f"ANALYZE {_GROUPS}"
_COUNT_GROUPS = f"SELECT f, count(*), sum(n) FROM {_GROUPS} GROUP BY f"
#: Per page to send back, the lines its next prompt must avoid that it lacks: ``tl`` the
#: keeper's title, ``dl`` its description (None: not a duplicate of that field, or told
#: already). A member is any page of a group but its keeper, whose content differs from
#: the keeper's (the same content is a duplicate page: a canonical, not a new title) and
#: with attempts left. Each field's members come through its own index, (site, key).
_MEMBER_LINES = " UNION ALL ".join(
    f"SELECT p.id, p.seo_avoid AS avoid, {'line' if f == 1 else 'NULL'} AS tl, {'line' if f == 2 else 'NULL'} AS dl "
    f"FROM (SELECT g.seo_site, g.k, g.keeper, '{field_}: ' || k.seo_{field_} AS line, k.content_hash "
    f"FROM {_GROUPS} g JOIN seo_pages k ON k.id = g.keeper WHERE g.f = {f}) g "
    f"JOIN seo_pages p ON p.seo_site = g.seo_site AND p.{column} = g.k "
    "WHERE p.id <> g.keeper AND p.content_hash <> g.content_hash AND p.seo_attempts < %s"
    for f, (column, field_) in enumerate(DUPLICATE_CHECKS.values(), 1)
)
_DROP_SEND_BACK = f"DROP TABLE IF EXISTS {_SEND_BACK_TABLE}"
#: (PostgreSQL, SQLite): the send-back table; a line already in the page's avoid list is
#: not added (nor charged) again, so a second run changes nothing.
_FILL_SEND_BACK = tuple(
    f"CREATE TEMPORARY TABLE {_SEND_BACK_TABLE} AS SELECT id, tl, dl FROM ("
    f"SELECT id, tl, CASE WHEN dl IS NOT NULL AND {find}(COALESCE(avoid || %s, '') || COALESCE(tl, ''), dl) = 0 "
    "THEN dl END AS dl FROM ("
    f"SELECT id, avoid, CASE WHEN tl IS NOT NULL AND {find}(COALESCE(avoid, ''), tl) = 0 THEN tl END AS tl, dl "
    f"FROM (SELECT id, max(avoid) AS avoid, max(tl) AS tl, max(dl) AS dl FROM ({_MEMBER_LINES}) m GROUP BY id) a"
    ") b) c WHERE tl IS NOT NULL OR dl IS NOT NULL"
    for find in ("strpos", "instr")
)
_COUNT_SEND_BACK = f"SELECT count(tl), count(dl) FROM {_SEND_BACK_TABLE}"
#: Every page sent back in one statement, each row once (the night is its one attempt).
_SEND_BACK = (
    f"UPDATE seo_pages AS t SET seo_avoid = COALESCE(t.seo_avoid || %s, '') || COALESCE(v.tl, '') "
    "|| CASE WHEN v.tl IS NOT NULL AND v.dl IS NOT NULL THEN %s ELSE '' END || COALESCE(v.dl, ''), "
    "seo_attempts = t.seo_attempts + CASE WHEN t.seo_avoid IS NULL THEN 1 ELSE 0 END "
    f"FROM {_SEND_BACK_TABLE} v WHERE t.id = v.id"
)
#: Template groups (as ``_template_groups``) and tonight's pages in them, in one pass.
_TEMPLATES = (
    "SELECT count(*), COALESCE(sum(g.tonight), 0) FROM ("
    "SELECT seo_site, count(*) AS n, sum(CASE WHEN seo_generated_at >= %s THEN 1 ELSE 0 END) AS tonight "
    f"FROM seo_pages WHERE seo_skeleton_key IS NOT NULL GROUP BY seo_site, seo_skeleton_key "
    f"HAVING count(*) >= {TEMPLATE_MIN_PAGES}) g "
    "JOIN (SELECT seo_site, count(*) AS total FROM seo_pages WHERE seo_site IS NOT NULL GROUP BY seo_site) s "
    f"ON s.seo_site = g.seo_site WHERE g.n >= {TEMPLATE_PAGES} OR g.n >= {TEMPLATE_SHARE} * s.total"
)
_SAME_AS_OTHER_H1 = (
    "SELECT count(*) FROM seo_pages p WHERE p.seo_generated_at >= %s AND p.seo_title_key IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM seo_pages b WHERE b.seo_site = p.seo_site AND b.seo_h1_key = p.seo_title_key "
    "AND b.id <> p.id)")
#: PostgreSQL: how many rows changed since the pages' statistics were taken. A first night
#: writes every fingerprint of a table whose statistics say they are all NULL; planned on
#: those, the H1 query's EXISTS became a nested loop over the whole table (minutes at
#: 100k pages). Autovacuum's own threshold, which it may not have acted on yet.
_STALE = ("SELECT n_mod_since_analyze > 50 + 0.1 * n_live_tup FROM pg_stat_user_tables "
          "WHERE relid = 'seo_pages'::regclass")
_ANALYZE_FINGERPRINTS = ("ANALYZE seo_pages (seo_site, seo_title_key, seo_description_key, seo_skeleton_key, "
                         "seo_h1_key, seo_generated_at)")
_CURSOR = "seobatch_site_findings"
_DECLARE = {table: {check: f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR {sql}" for check, sql in queries.items()}
            for table, queries in _FINDINGS.items()}
_FETCH = f"FETCH 1000 FROM {_CURSOR}"
_CLOSE = f"CLOSE {_CURSOR}"


def _sql(statement: str) -> str:
    """``statement`` with the driver's parameter mark."""
    return statement.replace("%s", database.param)


def site_findings(table: str = "seo_pages") -> Iterator[tuple[str, int, str, int]]:
    """(check, page id, url, group size) for every page a site check finds in ``table``
    (``seo_pages`` or ``AUDIT_TABLE``), largest groups first. On PostgreSQL a server-side
    cursor in the caller's transaction streams the rows (psycopg2 would fetch them all at
    once); SQLite's cursor is lazy already. Memory stays flat at a million pages."""
    for check, query in _FINDINGS[table].items():
        if _db.is_postgres():
            database.execute_sql(_DECLARE[table][check])
            try:
                while rows := database.execute_sql(_FETCH).fetchall():
                    for page_id, url, n in rows:
                        yield check, page_id, url, n
            finally:
                database.execute_sql(_CLOSE)
            continue
        cursor = database.execute_sql(query)
        try:
            while rows := cursor.fetchmany(1000):
                for page_id, url, n in rows:
                    yield check, page_id, url, n
        finally:
            cursor.close()


def check_site(job_id: int, settings: Settings, since: datetime | None = None) -> dict[str, dict[str, int]]:
    """Run the site checks for the pages ``job_id`` wrote (those generated at or after
    ``since``; default: the job's submission, so a re-run finds the same pages); send
    duplicates back; record the counts in the job's metadata. Idempotent: a second run
    finds the same groups and adds nothing (an avoid line already there is not added
    again, nor charged again).

    A page in a title and a description group is sent back once, with both lines, and
    charged one attempt: the pages to send back are gathered first (a temporary table),
    then written with one UPDATE … FROM."""
    if since is None:
        job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
        since = (job.submitted_at or job.created_at) if job is not None else datetime.min
    postgres = _db.is_postgres()
    found: dict[str, dict[str, int]] = {}
    with _db.write_transaction():
        if postgres:
            (stale,) = database.execute_sql(_STALE).fetchone() or (True,)
            if stale:
                database.execute_sql(_ANALYZE_FINGERPRINTS)
        database.execute_sql(_DROP_GROUPS)
        database.execute_sql(_sql(_FILL_GROUPS), (since,) * len(DUPLICATE_CHECKS))
        if postgres:
            database.execute_sql(_ANALYZE_GROUPS)  # the planner's row count for the member joins
        per_field = {f: (int(g), int(n or 0)) for f, g, n in database.execute_sql(_COUNT_GROUPS).fetchall()}
        database.execute_sql(_DROP_SEND_BACK)
        database.execute_sql(_sql(_FILL_SEND_BACK[0 if postgres else 1]),
                             ("\n", *(settings.max_attempts,) * len(DUPLICATE_CHECKS)))
        sent = database.execute_sql(_COUNT_SEND_BACK).fetchone() or (0, 0)
        database.execute_sql(_sql(_SEND_BACK), ("\n", "\n"))
        database.execute_sql(_DROP_SEND_BACK)
        database.execute_sql(_DROP_GROUPS)
        for f, check in enumerate(DUPLICATE_CHECKS, 1):
            groups, pages = per_field.get(f, (0, 0))
            found[check] = {"groups": groups, "pages": pages, "regenerate": int(sent[f - 1] or 0)}
        groups, pages = database.execute_sql(_sql(_TEMPLATES), (since,)).fetchone()
        found["title_template"] = {"groups": int(groups or 0), "pages": int(pages or 0), "regenerate": 0}
        (pages,) = database.execute_sql(_sql(_SAME_AS_OTHER_H1), (since,)).fetchone()
        found["title_same_as_other_h1"] = {"groups": int(pages or 0), "pages": int(pages or 0), "regenerate": 0}
    update_metadata(job_id, expected=(JobStatus.PROCESSING,), changes={jm.SITE_CHECKS: found})
    if any(v["pages"] for v in found.values()):
        log.info("job %s: site checks %s", job_id,
                 ", ".join(f"{k} {v['pages']} page(s)" for k, v in found.items() if v["pages"]))
    return found


__all__ = ["AUDIT_TABLE", "DUPLICATE_CHECKS", "check_site", "site_findings"]
