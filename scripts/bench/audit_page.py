#!/usr/bin/env python3
"""What the web page's Audit costs at scale: seed N pages with published values in bulk
(pairs of pages share a title, so title_duplicate fires on all of them), then time
``seobatch.audit.run_audit`` (the overview) and ``check_pages`` (one check's first page
of URLs), wall and CPU time, and the peak RSS. Runs in a schema of its own, dropped after.

    .venv/bin/python scripts/bench/audit_page.py --pages 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Sandbox  # noqa: E402
from seobatch import db, schema  # noqa: E402
from seobatch.audit import check_pages, run_audit  # noqa: E402

_SEED = (
    "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, seo_locked, attributes, seo_title, "
    "seo_description, created_at, updated_at) SELECT 'https://www.shop.example/p/' || g, 'Oak chair model ' || g, "
    "'A sturdy oak chair model ' || g || ' for every dining room, oiled and delivered.', md5(g::text), 0, FALSE, "
    "'{{\"language\": \"en\"}}', 'Oak chair model ' || (g % {half}) || ' | Shop', "
    "'A sturdy oak chair for every dining room, oiled and delivered assembled to your door.', now(), now() "
    "FROM generate_series(1, {n}) g"
)


def _timed(fn) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url must be postgresql://… (the seed uses generate_series)")
    box = Sandbox(args.database_url)
    try:
        db.configure(box.url)
        schema.init_db()
        sql_text = _SEED.format(n=args.pages, half=max(1, args.pages // 2)).replace("%", "%%")
        db.database.execute_sql(sql_text)  # sql-constant: the benchmark's own seed
        db.database.execute_sql("ANALYZE")
        out = {"pages": args.pages,
               "overview": _timed(lambda: run_audit(examples=3)),
               "check_page": _timed(lambda: check_pages("title_duplicate", limit=100, examples=1)),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
        print(json.dumps(out, indent=2))
    finally:
        db.database.close()
        box.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
