#!/usr/bin/env python3
"""Measure what the database keeps: bytes per item after a run, and the size after N
nights of a site whose pages partly change every night, before and after ``prune``.

    python scripts/retention_figures.py [--pages 10000] [--nights 10] [--change 0.1]
                                        [--database-url postgresql://…]

PostgreSQL only (``pg_total_relation_size``: table, TOAST and indexes). Works in a
database of its own, dropped at the end; the emulator runs in this process (batches end at once)
and every stage runs through ``stages.drive`` as ``seobatch run --wait`` would.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg2
from bench.seed import seed_pages

from seobatch import db
from seobatch.config import Settings
from seobatch.db import database
from seobatch.emulator import Emulator
from seobatch.models import SeoBatchItem
from seobatch.prune import prune
from seobatch.schema import init_db
from seobatch.stages import Step, drive
from seobatch.stages.kickoff import kickoff

TABLES = ("seo_batch_items", "seo_batch_jobs", "seo_pages", "seo_batch_events")


def sizes() -> dict[str, int]:
    return {t: database.execute_sql("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0] for t in TABLES}


def report(label: str) -> None:
    s = sizes()
    n = SeoBatchItem.select().count()
    indexes, row, toast, bodies = database.execute_sql(
        "SELECT pg_indexes_size('seo_batch_items'), "
        "(SELECT coalesce(avg(pg_column_size(i.*)), 0) FROM seo_batch_items i), "
        "pg_total_relation_size(reltoastrelid), "
        "(SELECT count(*) FROM seo_batch_items WHERE request IS NOT NULL) "
        "FROM pg_class WHERE oid = 'seo_batch_items'::regclass").fetchone()
    print(f"    toast {toast / 1e6:.2f} MB, items holding a request body: {bodies}")
    print(f"{label:<46} items {n:>6}  items table {s['seo_batch_items'] / 1e6:6.2f} MB "
          f"= {s['seo_batch_items'] / max(1, n):5.0f} B/item (row {float(row):4.0f} B, indexes "
          f"{indexes / max(1, n):3.0f} B)  all tables {sum(s.values()) / 1e6:6.2f} MB")


def vacuum(*, full: bool) -> None:
    """VACUUM (FULL) the items, a few seconds after the stages' last commit: the row
    versions a run replaced stay "recently dead" for a moment (seen right after a run)."""
    time.sleep(5)
    database.execute_sql("VACUUM FULL seo_batch_items" if full else "VACUUM seo_batch_items")


def change_pages(share: float, night: int) -> None:
    """Edit ``share`` of the pages (a different slice each night), as an import would."""
    database.execute_sql(
        "UPDATE seo_pages SET content = content || %s, "
        "content_hash = md5(random()::text) || md5(random()::text), updated_at = now() "
        "WHERE id %% %s = %s",
        (f" (edited on night {night})", round(1 / share), night % round(1 / share)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--nights", type=int, default=10)
    parser.add_argument("--change", type=float, default=0.1)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    # A database of its own: VACUUM can only remove rows no open transaction of the same
    # database might still see, and a shared test database has other sessions' snapshots.
    name = f"seobatch_retention_{secrets.token_hex(3)}"
    admin = psycopg2.connect(args.database_url.replace("postgresql://", "postgres://", 1))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base, _, query = args.database_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    try:
        with Emulator() as emu:
            settings = Settings(database_url=url, anthropic_api_key="k", anthropic_base_url=emu.url,
                                poll_interval=0, submit_settle_seconds=0, retention_days=0)
            db.configure(url)
            database.connect(reuse_if_open=True)
            init_db()
            seed_pages(args.pages)
            for night in range(1, args.nights + 1):
                if night > 1:
                    change_pages(args.change, night)
                job = kickoff(settings=settings).job
                drive([Step("collect", job.id)], settings=settings)
                if night == 1:
                    vacuum(full=True)
                    report("after night 1 (a full run), compacted")
                vacuum(full=False)  # as autovacuum would between nights
            report(f"after {args.nights} nights, not pruned (vacuumed)")
            done = prune(settings)
            print(f"prune: {done.describe()}")
            vacuum(full=False)
            report("after prune + vacuum (free space reusable)")
            vacuum(full=True)
            report("after prune + VACUUM FULL (what is kept)")
            database.close()
    finally:
        database.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
