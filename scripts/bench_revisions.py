#!/usr/bin/env python3
"""Revisions at scale on PostgreSQL: publish N pages through ``save_generated`` a chunk
at a time (two nights), roll the second back, and report the seconds and the bytes per
revision (table and indexes). Runs in a schema of its own, dropped at the end.

    .venv/bin/python scripts/bench_revisions.py --pages 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.harness import Sandbox

from seobatch import db, revisions, schema
from seobatch.db import utcnow
from seobatch.models import Page, PageRevision, SeoBatchJob

_SEED = (
    "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, seo_locked, created_at, updated_at) "
    "SELECT 'https://shop.example.com/p/' || g, 'Oak chair model ' || g, 'Text', md5(g::text), 0, FALSE, "
    "now(), now() FROM generate_series(1, %s) AS g"
)


def night(word: str, chunk: int, pages: int) -> tuple[int, float]:
    job = SeoBatchJob.create(status="processing", metadata={"run": word})
    publishing = revisions.Publishing()
    start = time.perf_counter()
    last = 0
    while True:
        ids = [i for (i,) in Page.select(Page.id).where(Page.id > last).order_by(Page.id).limit(chunk).tuples()]
        if not ids:
            break
        now = utcnow()
        replies = [revisions.Generated(i, f"{word} chair model {i} | Example Shop",
                                       f"Everything about oak chair model {i}, made by hand in our workshop. {word}",
                                       job.model, now, "h", "v1", None) for i in ids]
        with db.write_transaction():
            revisions.save_generated(job, replies, publishing)
        last = ids[-1]
    return job.id, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    sandbox = Sandbox(args.database_url)
    db.configure(sandbox.url)
    out: dict[str, float | int] = {"pages": args.pages}
    try:
        schema.init_db()
        db.database.execute_sql(_SEED, (args.pages,))
        db.database.execute_sql("ANALYZE")
        _, out["first_night_s"] = night("first", args.chunk_size, args.pages)
        bad, out["second_night_s"] = night("second", args.chunk_size, args.pages)
        db.database.execute_sql("ANALYZE")
        t = time.perf_counter()
        plan = revisions.rollback([bad], by="bench", dry_run=True)
        out["rollback_dry_run_s"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = revisions.rollback([bad], by="bench")
        out["rollback_s"] = time.perf_counter() - t
        out["rolled_back_pages"] = plan.pages
        revisions_n = PageRevision.select().count()
        table, total = db.database.execute_sql(
            "SELECT pg_relation_size('seo_page_revisions'), pg_total_relation_size('seo_page_revisions')"
        ).fetchone()
        out["revisions"] = revisions_n
        out["bytes_per_revision_table"] = round(table / revisions_n)
        out["bytes_per_revision_with_indexes"] = round(total / revisions_n)
    finally:
        db.database.close()
        sandbox.drop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
