#!/usr/bin/env python3
"""The review queue at scale on PostgreSQL: seed N proposed revisions (default 1M) with
bulk INSERT … SELECT (never a row at a time), then time the queue's first page and the
first page of each filter (``revisions.list_proposed``, what ``/review`` calls), the
median of --repeat runs after one warm-up; and the confirmation's count of each filter
(``count_proposed_upto``, exact up to its cap) beside a full ``count_proposed``. Runs in a
schema of its own, dropped after.

    .venv/bin/python scripts/bench/review_queue.py --revisions 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Sandbox  # noqa: E402
from seobatch import db, revisions, schema  # noqa: E402

JOBS = 20
HOSTS = ("www.shop.example", "shop.example.de", "shop.example.fr", "blog.example")
LANGUAGES = ("en", "de", "fr", "es", "it")

#: The jobs of one run each, then one page per proposal (host, language by its number).
_SEED = (
    "INSERT INTO seo_batch_jobs (model, status, metadata, total_pages, succeeded_count, errored_count, "
    "created_at, updated_at) SELECT 'claude-sonnet-4-5', 'completed', jsonb_build_object('run', 'r' || g), "
    "0, 0, 0, now(), now() FROM generate_series(1, {jobs}) g",
    "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, seo_locked, attributes, "
    "created_at, updated_at) SELECT 'https://' || (ARRAY{hosts})[1 + g % {nhosts}] || '/p/' || g, "
    "'Oak chair model ' || g, 'Text', md5(g::text), 0, FALSE, "
    "jsonb_build_object('language', (ARRAY{langs})[1 + g % {nlangs}]), now(), now() "
    "FROM generate_series(1, {n}) g",
    "INSERT INTO seo_page_revisions (page_id, title, state, source, created_at, flagged) "
    "SELECT id, title, 'superseded', 'original', now(), FALSE FROM seo_pages",
    # Every 10th proposal is too wide (flagged); every 997th a placeholder: a rare check.
    "INSERT INTO seo_page_revisions (page_id, job_id, title, description, state, source, model, checks, "
    "flagged, reason, created_at, replaces_id) SELECT p.id, 1 + p.id % {jobs}, 'Oak chair ' || p.id || ' | Shop', "
    "'A sturdy oak chair.', 'proposed', 'generated', 'claude-sonnet-4-5', "
    "CASE WHEN p.id % 997 = 0 THEN '[{{\"name\": \"title_placeholder\", \"severity\": \"issue\"}}]'::jsonb "
    "WHEN p.id % 10 = 0 THEN '[{{\"name\": \"title_too_wide\", \"severity\": \"warning\"}}]'::jsonb END, "
    "p.id % 10 = 0, 'review', now(), o.id FROM seo_pages p JOIN seo_page_revisions o ON o.page_id = p.id",
    "ANALYZE",
)

FILTERS = {
    "first page": {},
    "job": {"job": 7},
    "check (10%)": {"check": "title_too_wide"},
    "check (0.1%)": {"check": "title_placeholder"},
    "language": {"language": "de"},
    "host": {"host": "shop.example.fr"},
    "flagged": {"flagged": True},
    "not flagged": {"flagged": False},
    "job + language + flagged": {"job": 3, "language": "fr", "flagged": True},
}


def _ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the seeded schema (printed) for a look")
    args = parser.parse_args()
    box = Sandbox(args.database_url)
    try:
        db.configure(box.url)
        schema.init_db()
        start = time.perf_counter()
        fmt = {"jobs": JOBS, "n": args.revisions, "nhosts": len(HOSTS), "nlangs": len(LANGUAGES),
               "hosts": "[" + ",".join(f"'{h}'" for h in HOSTS) + "]",
               "langs": "[" + ",".join(f"'{lang}'" for lang in LANGUAGES) + "]"}
        for statement in _SEED:
            sql_text = statement.format(**fmt).replace("%", "%%")  # no parameters: a literal %
            db.database.execute_sql(sql_text)  # sql-constant: the benchmark's own seed
        seeded = time.perf_counter() - start
        out = {"revisions": args.revisions, "seed_s": round(seeded, 1), "page_ms": {}, "confirm_ms": {},
               "count_ms": {}}
        for name, fields in FILTERS.items():
            filter_ = revisions.Filter(**fields)
            rows = revisions.list_proposed(filter_, limit=51)
            out["page_ms"][name] = {"ms": round(_ms(lambda f=filter_: revisions.list_proposed(f, limit=51),
                                                    args.repeat), 1), "rows": len(rows)}
            # The "approve everything this filter matches" confirmation: what it counts now
            # (exact up to the cap) next to a full COUNT (what it counted before).
            capped = revisions.count_proposed_upto(filter_)
            out["confirm_ms"][name] = {"ms": round(_ms(lambda f=filter_: revisions.count_proposed_upto(f),
                                                       args.repeat), 1),
                                       "n": capped.n, "exact": capped.exact, "estimate": capped.estimate}
            out["count_ms"][name] = {"ms": round(_ms(lambda f=filter_: revisions.count_proposed(f), args.repeat), 1),
                                     "count": revisions.count_proposed(filter_)}
        if args.keep:
            out["schema"] = box.schema
        print(json.dumps(out, indent=2))
    finally:
        db.database.close()
        if not args.keep:
            box.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
