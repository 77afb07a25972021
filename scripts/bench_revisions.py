#!/usr/bin/env python3
"""Revisions at scale on PostgreSQL: publish N pages through ``save_generated`` a chunk
at a time (two nights), roll the second back, and report the seconds (wall and this
process's CPU) and the bytes per revision, table and with indexes: as written (dead row
versions included) and of the live rows alone (copied into a table with the same
indexes, rebuilt). ``pages_only_night_s`` writes the same replies the way the results stage did
before revisions (``bench/no_revisions.py``): the cost of revisions per night by
comparison. Runs in a schema of its own, dropped at the end.

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

from bench.harness import Sandbox  # noqa: E402
from bench.no_revisions import save_pages_only  # noqa: E402

from seobatch import db, revisions, schema  # noqa: E402
from seobatch.db import utcnow  # noqa: E402
from seobatch.models import Page, PageRevision, SeoBatchJob  # noqa: E402

_SEED = (
    "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, seo_locked, created_at, updated_at) "
    "SELECT 'https://shop.example.com/p/' || g, 'Oak chair model ' || g, 'Text', md5(g::text), 0, FALSE, "
    "now(), now() FROM generate_series(1, %s) AS g"
)
_SIZES = "SELECT pg_relation_size('seo_page_revisions'), pg_total_relation_size('seo_page_revisions')"
#: Live rows only, the same indexes: what the revisions take once dead row versions are gone
#: (VACUUM FULL keeps them while another session's snapshot may still see them).
_COMPACT = (
    "CREATE TABLE bench_revisions_live (LIKE seo_page_revisions INCLUDING ALL)",
    "INSERT INTO bench_revisions_live SELECT * FROM seo_page_revisions",
    "REINDEX TABLE bench_revisions_live",  # indexes as a build makes them, not as the copy grew them
)
_INDEX_SIZES = (
    "SELECT c.relname, pg_relation_size(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = 'bench_revisions_live'::regclass ORDER BY 2 DESC"
)
_LIVE_SIZES = "SELECT pg_relation_size('bench_revisions_live'), pg_total_relation_size('bench_revisions_live')"


def night(word: str, chunk: int, save=revisions.save_generated) -> tuple[int, float, float]:
    """One night's replies for every page through ``save``: (job id, wall s, CPU s)."""
    job = SeoBatchJob.create(status="processing", metadata={"run": word})
    publishing = revisions.Publishing()
    start, cpu = time.perf_counter(), time.process_time()
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
            save(job, replies, publishing)
        last = ids[-1]
    return job.id, time.perf_counter() - start, time.process_time() - cpu


def _sizes(out: dict[str, float | int], suffix: str, query: str = _SIZES) -> None:
    count = PageRevision.select().count()
    table, total = db.database.execute_sql(query).fetchone()
    out["revisions"] = count
    out[f"bytes_per_revision_table{suffix}"] = round(table / count)
    out[f"bytes_per_revision_with_indexes{suffix}"] = round(total / count)


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
        _, out["pages_only_night_s"], out["pages_only_night_cpu_s"] = night("plain", args.chunk_size,
                                                                             save_pages_only)
        _, out["first_night_s"], out["first_night_cpu_s"] = night("first", args.chunk_size)
        bad, out["second_night_s"], out["second_night_cpu_s"] = night("second", args.chunk_size)
        db.database.execute_sql("ANALYZE")
        t = time.perf_counter()
        plan = revisions.rollback([bad], by="bench", dry_run=True)
        out["rollback_dry_run_s"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = revisions.rollback([bad], by="bench")
        out["rollback_s"] = time.perf_counter() - t
        out["rolled_back_pages"] = plan.pages
        _sizes(out, "")
        for statement in _COMPACT:
            db.database.execute_sql(statement)
        _sizes(out, "_live", _LIVE_SIZES)
        count = int(out["revisions"])
        for name, size in db.database.execute_sql(_INDEX_SIZES).fetchall():
            out["live_index_bytes_per_revision." + name] = round(size / count)
    finally:
        db.database.close()
        sandbox.drop()
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
