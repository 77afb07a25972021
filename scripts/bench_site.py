#!/usr/bin/env python3
"""Benchmark the site stage (stages/site.py) at a million pages on PostgreSQL.

    .venv/bin/python scripts/bench_site.py [--pages 1000000] [--database-url URL]

Seeds N pages with fingerprints in SQL (``generate_series``; about 10 % of titles and 5 %
of descriptions shared, one template over 2 % of the site, some titles equal to another
page's H1, two hosts and two languages) and one completed job whose items cover every
page (the worst case: a whole site generated in one night), in a schema of its own; then
runs ``check_site`` for that job and prints its wall and CPU seconds and what it found.
Drops the schema at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import timedelta

from bench.harness import DEFAULT_PG_URL, Sandbox

from seobatch import db
from seobatch.config import Settings
from seobatch.db import utcnow
from seobatch.jobmeta import JobStatus
from seobatch.models import SeoBatchJob
from seobatch.schema import init_db
from seobatch.stages.site import check_site

SEED_PAGES = """
INSERT INTO seo_pages (url, title, content, content_hash, seo_title, seo_description, seo_attempts,
                       seo_site, seo_title_key, seo_description_key, seo_skeleton_key, seo_h1_key,
                       seo_generated_at, created_at, updated_at)
SELECT 'https://' || (CASE WHEN g %% 2 = 0 THEN 'shop' ELSE 'blog' END) || '.example/p/' || g,
       'Product ' || g, '', md5(g::text),
       'Title ' || (CASE WHEN g %% 10 = 0 THEN g %% 5000 ELSE g END),
       'Description ' || (CASE WHEN g %% 20 = 0 THEN g %% 3000 ELSE g END), 0,
       (CASE WHEN g %% 2 = 0 THEN 'shop' ELSE 'blog' END) || '.example/'
         || (CASE WHEN g %% 7 = 0 THEN 'de' ELSE 'en' END),
       (CASE WHEN g %% 10 = 0 THEN g %% 5000 ELSE g END),
       (CASE WHEN g %% 20 = 0 THEN 1000000000 + g %% 3000 ELSE 1000000000 + g END),
       (CASE WHEN g %% 50 = 0 THEN 7 ELSE NULL END),
       (CASE WHEN g %% 1000 = 1 THEN g + 2 ELSE -g END),
       now() AT TIME ZONE 'UTC', now(), now()
FROM generate_series(1, %s) AS g
"""
SEED_ITEMS = """
INSERT INTO seo_batch_items (job_id, page_id, custom_id, status, created_at, updated_at)
SELECT %s, id, 'j' || %s || 'p' || id, 'succeeded', now(), now() FROM seo_pages
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_site.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        print("bench_site: the site stage is measured on PostgreSQL", file=sys.stderr)
        return 2
    sandbox = Sandbox(args.database_url)
    try:
        db.configure(sandbox.url)
        init_db()
        started = time.perf_counter()
        with db.database.atomic():
            db.database.execute_sql(SEED_PAGES, (args.pages,))
            job = SeoBatchJob.create(status=JobStatus.PROCESSING, model="claude-sonnet-4-5",
                                     submitted_at=utcnow() - timedelta(hours=1))
            db.database.execute_sql(SEED_ITEMS, (job.id, job.id))
        db.database.execute_sql("ANALYZE")
        seeded = time.perf_counter() - started
        cpu0, wall0 = time.process_time(), time.perf_counter()
        found = check_site(job.id, Settings())
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        # The database's own CPU is not in ours: the wall figure is what counts.
        print(json.dumps({"pages": args.pages, "seed_seconds": round(seeded, 1), "site_stage_seconds": round(wall, 2),
                          "client_cpu_seconds": round(cpu, 2),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          "found": found}, indent=2))
        db.database.close()
    finally:
        sandbox.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
