"""site: the site-level checks after a job's results are saved (seo-quality.md §3, §4).

In SQL over the pages' fingerprints (``seo_site``, ``seo_title_key`` …, written with the
title by the results stage), one statement per check, never a query per page:

- ``title_duplicate`` / ``description_duplicate``: two or more pages of one host and
  language with the same normalised title (description). One page of each group keeps
  it (the lowest id); every other page whose content differs from that page's is sent
  back: ``seo_avoid`` names the shared text, which its next prompt must avoid, and the
  night counts as a failed attempt (``SEOBATCH_MAX_ATTEMPTS`` bounds a group that keeps
  coming back the same). Pages with the same content as the keeper are duplicate pages,
  not duplicate titles: reported, not regenerated (a canonical is the fix).
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
#: The table the site stage keeps a check's group members in (one transaction).
_MEMBERS = "seobatch_site_members"


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
_DROP_MEMBERS = f"DROP TABLE IF EXISTS {_MEMBERS}"
_FILL_MEMBERS = {
    check: (f"CREATE TEMPORARY TABLE {_MEMBERS} AS SELECT p.id, p.content_hash, p.seo_attempts, d.keeper "
            f"FROM seo_pages p JOIN ({_groups('seo_pages', column, 'count(*) > 1 AND max(seo_generated_at) >= %s')}) d "
            f"ON d.seo_site = p.seo_site AND d.k = p.{column}")
    for check, (column, _) in DUPLICATE_CHECKS.items()
}
_COUNT_MEMBERS = f"SELECT count(DISTINCT keeper), count(*) FROM {_MEMBERS}"
#: (PostgreSQL, SQLite) per field: members other than their keeper (not the same page as
#: it, attempts left) get the keeper's text in ``seo_avoid`` and are charged the night.
_SEND_BACK = {
    field_: tuple(
        "UPDATE seo_pages AS t SET seo_avoid = COALESCE(t.seo_avoid || %s, '') || v.line, "
        "seo_attempts = t.seo_attempts + CASE WHEN t.seo_avoid IS NULL THEN 1 ELSE 0 END "
        f"FROM (SELECT m.id, '{field_}: ' || k.seo_{field_} AS line FROM {_MEMBERS} m "
        "JOIN seo_pages k ON k.id = m.keeper WHERE m.id <> m.keeper AND m.content_hash <> k.content_hash "
        "AND m.seo_attempts < %s) v "
        f"WHERE t.id = v.id AND (t.seo_avoid IS NULL OR {find}(t.seo_avoid, v.line) = 0)"
        for find in ("strpos", "instr")
    )
    for _, field_ in DUPLICATE_CHECKS.values()
}
_TEMPLATE_PAGES = (f"SELECT count(*) FROM seo_pages p JOIN ({_template_groups('seo_pages')}) d "
                   "ON d.seo_site = p.seo_site AND d.k = p.seo_skeleton_key WHERE p.seo_generated_at >= %s")
_TEMPLATE_GROUPS = f"SELECT count(*) FROM ({_template_groups('seo_pages')}) d"
_SAME_AS_OTHER_H1 = (
    "SELECT count(*) FROM seo_pages p WHERE p.seo_generated_at >= %s AND p.seo_title_key IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM seo_pages b WHERE b.seo_site = p.seo_site AND b.seo_h1_key = p.seo_title_key "
    "AND b.id <> p.id)")
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
    again, nor charged again)."""
    if since is None:
        job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
        since = (job.submitted_at or job.created_at) if job is not None else datetime.min
    found: dict[str, dict[str, int]] = {}
    send_back = 0 if _db.is_postgres() else 1
    with _db.write_transaction():
        for check, (_, field_) in DUPLICATE_CHECKS.items():
            database.execute_sql(_DROP_MEMBERS)
            database.execute_sql(_sql(_FILL_MEMBERS[check]), (since,))
            groups, pages = database.execute_sql(_COUNT_MEMBERS).fetchone()
            cursor = database.execute_sql(_sql(_SEND_BACK[field_][send_back]), ("\n", settings.max_attempts))
            database.execute_sql(_DROP_MEMBERS)
            found[check] = {"groups": int(groups or 0), "pages": int(pages or 0), "regenerate": max(cursor.rowcount, 0)}
        (pages,) = database.execute_sql(_sql(_TEMPLATE_PAGES), (since,)).fetchone()
        (groups,) = database.execute_sql(_TEMPLATE_GROUPS).fetchone()
        found["title_template"] = {"groups": int(groups or 0), "pages": int(pages or 0), "regenerate": 0}
        (pages,) = database.execute_sql(_sql(_SAME_AS_OTHER_H1), (since,)).fetchone()
        found["title_same_as_other_h1"] = {"groups": int(pages or 0), "pages": int(pages or 0), "regenerate": 0}
    update_metadata(job_id, expected=(JobStatus.PROCESSING,), changes={jm.SITE_CHECKS: found})
    if any(v["pages"] for v in found.values()):
        log.info("job %s: site checks %s", job_id,
                 ", ".join(f"{k} {v['pages']} page(s)" for k, v in found.items() if v["pages"]))
    return found


__all__ = ["AUDIT_TABLE", "DUPLICATE_CHECKS", "check_site", "site_findings"]
