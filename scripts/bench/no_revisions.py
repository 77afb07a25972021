"""The results stage without revisions, for ``bench.py --no-revisions``: what it costs to
keep a revision of every reply, measured in one tree under the same conditions.

``install()`` swaps the stage's ``save_generated`` for the write the stage made before
revisions existed: one ``UPDATE … FROM (VALUES …)`` of the pages per chunk with the reply's
text, fingerprints and generation bookkeeping (every reply published; no revision, no
original, no lock). Only the benchmark's child calls it; nothing shipped does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seobatch.bulk import bulk_update
from seobatch.publishing import State

_COLUMNS = (
    ("id", "bigint"), ("title", "text"), ("description", "text"), ("model", "text"),
    ("at", "timestamp"), ("content_hash", "text"), ("prompt_version", "text"),
    ("site", "text"), ("title_key", "bigint"), ("description_key", "bigint"),
    ("skeleton_key", "bigint"), ("h1_key", "bigint"),
)
_ASSIGNMENTS = (
    "seo_title = v.title", "seo_description = v.description", "seo_model = v.model",
    "seo_generated_at = v.at", "seo_content_hash = v.content_hash", "seo_prompt_version = v.prompt_version",
    "seo_attempts = CASE WHEN t.seo_avoid IS NULL THEN 0 ELSE t.seo_attempts END",
    "seo_last_error = NULL", "updated_at = v.at", "seo_site = v.site", "seo_title_key = v.title_key",
    "seo_description_key = v.description_key", "seo_skeleton_key = v.skeleton_key", "seo_h1_key = v.h1_key",
    "seo_avoid = NULL",
)


def save_pages_only(job: Any, replies: Sequence[Any], publishing: Any) -> dict[State, int]:
    rows = [(r.page_id, r.title, r.description, r.model, r.at, r.content_hash, r.prompt_version,
             *(r.fingerprints or (None,) * 5)) for r in replies]
    bulk_update("seo_pages", key="id", columns=_COLUMNS, assignments=_ASSIGNMENTS, rows=rows)
    return {State.PUBLISHED: len(rows)} if rows else {}


def install() -> None:
    from seobatch.stages import results

    results.save_generated = save_pages_only


def skip_site_stage() -> None:
    """``bench.py --no-site-stage``: the results stage without its site-wide checks, the
    same work with or without revisions (compare the stage's own writes alone)."""
    from seobatch.stages import results

    results.check_site = lambda *args, **kwargs: None
