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

Only groups that hold a page of this job are looked at (the rest were judged on the
night they were written). The findings go into the job's metadata (``site_checks``);
``seobatch audit`` runs the same queries over any set of values (``site_findings``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import db as _db
from .. import jobmeta as jm
from ..db import database
from ..jobmeta import ItemStatus, JobStatus
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

#: The pages this job wrote (``%s``: the job id).
_JOB_PAGES = "SELECT page_id FROM seo_batch_items WHERE job_id = %s AND status = '" + ItemStatus.SUCCEEDED + "'"


def _groups(table: str, column: str, having: str = "count(*) > 1") -> str:
    # sql-constant: table and column names are this module's constants
    return (f"SELECT seo_site, {column} AS k, count(*) AS n, min(id) AS keeper FROM {table} "
            f"WHERE {column} IS NOT NULL GROUP BY seo_site, {column} HAVING {having}")


def _template_groups(table: str) -> str:
    """Skeleton groups big enough to be a template, with their size."""
    return (
        f"SELECT g.seo_site, g.k, g.n FROM ({_groups(table, 'seo_skeleton_key', f'count(*) >= {TEMPLATE_MIN_PAGES}')}) g "
        f"JOIN (SELECT seo_site, count(*) AS total FROM {table} WHERE seo_site IS NOT NULL GROUP BY seo_site) s "
        f"ON s.seo_site = g.seo_site WHERE g.n >= {TEMPLATE_PAGES} OR g.n >= {TEMPLATE_SHARE} * s.total"
    )


def site_findings(table: str = "seo_pages", scope: str = "", params: tuple[Any, ...] = ()) -> Iterator[tuple[str, int, str, int]]:
    """(check, page id, url, group size) for every page a site check finds in ``table``
    (``seo_pages``, or a table of the same fingerprint columns with ``url``), largest
    groups first; ``scope`` (SQL over ``p``, with ``params``) narrows the pages reported.
    Rows are fetched a thousand at a time: memory stays flat at a million pages."""
    where = f" AND {scope}" if scope else ""
    queries = [
        (check, f"SELECT p.id, p.url, d.n FROM {table} p JOIN ({_groups(table, column)}) d "
                f"ON d.seo_site = p.seo_site AND d.k = p.{column}{where} ORDER BY d.n DESC, p.id")
        for check, (column, _) in DUPLICATE_CHECKS.items()
    ]
    queries.append(("title_template", f"SELECT p.id, p.url, d.n FROM {table} p JOIN ({_template_groups(table)}) d "
                                      f"ON d.seo_site = p.seo_site AND d.k = p.seo_skeleton_key{where} "
                                      "ORDER BY d.n DESC, p.id"))
    queries.append(("title_same_as_other_h1", f"SELECT p.id, p.url, 1 FROM {table} p WHERE p.seo_title_key IS NOT NULL "
                                               f"AND EXISTS (SELECT 1 FROM {table} b WHERE b.seo_site = p.seo_site "
                                               f"AND b.seo_h1_key = p.seo_title_key AND b.id <> p.id){where} ORDER BY p.id"))
    for check, sql in queries:
        sql = sql.replace("%s", database.param)
        if _db.is_postgres():
            # A server-side cursor streams the rows (psycopg2 would fetch them all at once);
            # it lives in the caller's transaction.
            name = f"seobatch_{check}"
            database.execute_sql(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", params)  # sql-constant: names are constants; values are parameters
            try:
                while rows := database.execute_sql(f"FETCH 1000 FROM {name}").fetchall():  # sql-constant
                    for page_id, url, n in rows:
                        yield check, page_id, url, n
            finally:
                database.execute_sql(f"CLOSE {name}")  # sql-constant
            continue
        cursor = database.execute_sql(sql, params)  # sql-constant: names are constants; values are parameters
        try:
            while rows := cursor.fetchmany(1000):
                for page_id, url, n in rows:
                    yield check, page_id, url, n
        finally:
            cursor.close()


def _count(sql: str, params: tuple[Any, ...]) -> tuple[int, int]:
    row = database.execute_sql(f"SELECT count(DISTINCT g), count(*) FROM ({sql}) x".replace("%s", database.param),  # sql-constant
                               params).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def check_site(job_id: int, settings: Settings) -> dict[str, dict[str, int]]:
    """Run the site checks for the pages ``job_id`` wrote; send duplicates back; record
    the counts in the job's metadata. Idempotent: a second run finds the same groups and
    adds nothing (an avoid line already there is not added again, nor charged again)."""
    scope = f"p.id IN ({_JOB_PAGES})"
    found: dict[str, dict[str, int]] = {}
    with _db.write_transaction():
        for check, (column, field_) in DUPLICATE_CHECKS.items():
            # The groups that hold one of the job's pages; every page of them but the keeper.
            members = (
                f"SELECT p.id AS id, p.seo_site || ':' || p.{column} AS g, k.seo_{field_} AS shared, "
                f"p.content_hash = k.content_hash AS same_page, p.seo_attempts AS attempts "
                f"FROM seo_pages p JOIN ({_groups('seo_pages', column)}) d "
                f"ON d.seo_site = p.seo_site AND d.k = p.{column} JOIN seo_pages k ON k.id = d.keeper "
                f"WHERE d.k IN (SELECT p.{column} FROM seo_pages p WHERE {scope}) AND p.id <> d.keeper"
            )
            groups, pages = _count(members, (job_id,))
            regenerate = _send_back(members, field_, settings.max_attempts, job_id)
            found[check] = {"groups": groups, "pages": pages + groups, "regenerate": regenerate}
        template = (f"SELECT p.id, p.seo_site || ':' || p.seo_skeleton_key AS g FROM seo_pages p "
                    f"JOIN ({_template_groups('seo_pages')}) d ON d.seo_site = p.seo_site "
                    f"AND d.k = p.seo_skeleton_key WHERE {scope}")
        groups, pages = _count(template, (job_id,))
        found["title_template"] = {"groups": groups, "pages": pages, "regenerate": 0}
        same_h1 = (f"SELECT p.id, p.id AS g FROM seo_pages p WHERE {scope} AND EXISTS (SELECT 1 FROM seo_pages b "
                   "WHERE b.seo_site = p.seo_site AND b.seo_h1_key = p.seo_title_key AND b.id <> p.id)")
        groups, pages = _count(same_h1, (job_id,))
        found["title_same_as_other_h1"] = {"groups": groups, "pages": pages, "regenerate": 0}
    update_metadata(job_id, expected=(JobStatus.PROCESSING,), changes={jm.SITE_CHECKS: found})
    if any(v["pages"] for v in found.values()):
        log.info("job %s: site checks %s", job_id,
                 ", ".join(f"{k} {v['pages']} page(s)" for k, v in found.items() if v["pages"]))
    return found


def _send_back(members: str, field_: str, max_attempts: int, job_id: int) -> int:
    """Pages of ``members`` (not the same page as the keeper, attempts left) get the shared
    text in ``seo_avoid`` and are charged the night; returns how many."""
    find = "strpos(t.seo_avoid, v.line)" if _db.is_postgres() else "instr(t.seo_avoid, v.line)"
    sql = (
        f"UPDATE seo_pages AS t SET seo_avoid = COALESCE(t.seo_avoid || %s, '') || v.line, "
        f"seo_attempts = t.seo_attempts + CASE WHEN t.seo_avoid IS NULL THEN 1 ELSE 0 END "
        f"FROM (SELECT id, '{field_}: ' || shared AS line FROM ({members}) m "
        f"WHERE NOT same_page AND attempts < %s) v "
        f"WHERE t.id = v.id AND (t.seo_avoid IS NULL OR {find} = 0)"
    )
    cursor = database.execute_sql(sql.replace("%s", database.param), ("\n", job_id, max_attempts))  # sql-constant
    return max(cursor.rowcount, 0)


__all__ = ["DUPLICATE_CHECKS", "check_site", "site_findings"]
