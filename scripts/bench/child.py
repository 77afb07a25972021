"""One measured piece of a benchmark run, in a process of its own.

``python scripts/bench/child.py ROLE JSON`` configures the database from the
environment (``Settings.from_env``), counts every statement this process sends, does
its part and prints one JSON line: seconds of work (interpreter start and imports not
included), statements sent, and what the next role needs. The parent reads the
process's peak RSS from ``wait4``, so each stage's peak is its own.

Roles: ``seed`` (pages), ``stage`` (kickoff, collect, submit, poll or results — the
stage functions the actors call, following that stage's own follow-up steps the way a
worker would), ``floor`` (the same database work the fastest way) and ``verify``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from floor import measure_floor  # a sibling: this file runs as a script, its folder on sys.path
from peewee import fn
from seed import seed_pages

from seobatch import db as _db
from seobatch import jobmeta as jm
from seobatch import schema
from seobatch.config import Settings
from seobatch.jobmeta import JobStatus
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.stages import DidNotSettle, Step, drive
from seobatch.stages.kickoff import kickoff

#: Statements sent by this process (``execute`` calls, COPYs, ``executemany``: see below).
QUERIES = [0]


class CountingCursor:
    """A DB-API cursor that counts what it sends and is otherwise the cursor itself."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        QUERIES[0] += 1
        return self._cursor.execute(*args, **kwargs)

    def executemany(self, sql: Any, rows: Any) -> Any:
        rows = list(rows)
        # psycopg2 sends one statement per row; sqlite3 steps one prepared statement
        # in-process, which is what COPY is to PostgreSQL.
        QUERIES[0] += 1 if isinstance(self._cursor, sqlite3.Cursor) else len(rows)
        return self._cursor.executemany(sql, rows)

    def copy_expert(self, *args: Any, **kwargs: Any) -> Any:
        QUERIES[0] += 1
        return self._cursor.copy_expert(*args, **kwargs)

    def __iter__(self) -> Any:
        return iter(self._cursor)

    def __enter__(self) -> CountingCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def open_counted(settings: Settings) -> Any:
    """Configure the database and count every statement sent through peewee's cursors."""
    database = _db.configure(settings.database_url)
    cursor = database.cursor
    database.cursor = lambda *a, **kw: CountingCursor(cursor(*a, **kw))  # type: ignore[method-assign]
    return database


# --------------------------------------------------------------------------- roles


def role_seed(args: dict[str, Any], settings: Settings) -> dict[str, Any]:
    schema.init_db()
    started = time.perf_counter()
    count = seed_pages(int(args["pages"]))
    return {"seconds": time.perf_counter() - started, "pages": count}


def role_stage(args: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Run one stage over the steps the previous one returned, as a worker would
    (``stages.drive``, only that stage, its delays slept); the other steps are handed on."""
    name = args["stage"]
    started = time.perf_counter()
    if name == "kickoff":
        out = kickoff(settings=settings, source="bench").steps
        return {"seconds": time.perf_counter() - started, "steps": _dump(out), "runs": 1}
    try:
        done = drive([Step(**s) for s in args["steps"]], settings=settings, only=name, honour_delays=True,
                     timeout=float(args.get("timeout", 3600)))
    except DidNotSettle as exc:
        raise SystemExit(f"bench: {exc}") from None
    return {"seconds": time.perf_counter() - started, "steps": _dump(done.left), "runs": len(done.trace)}


def _dump(steps: Any) -> list[dict[str, Any]]:
    return [{"actor": s.actor, "job_id": s.job_id, "delay_ms": s.delay_ms} for s in steps]


def role_floor(args: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return {"seconds": measure_floor(args["stage"], chunk_size=settings.chunk_size)}


def role_verify(args: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What the run produced: jobs by status, item outcomes, pages with SEO."""
    jobs = {s: n for s, n in SeoBatchJob.select(SeoBatchJob.status, fn.COUNT(SeoBatchJob.id))
            .group_by(SeoBatchJob.status).tuples()}
    items = {s: n for s, n in SeoBatchItem.select(SeoBatchItem.status, fn.COUNT(SeoBatchItem.id))
             .group_by(SeoBatchItem.status).tuples()}
    with_seo = Page.select().where(Page.seo_title.is_null(False)).count()
    errors = [
        e for (e,) in SeoBatchItem.select(SeoBatchItem.error)
        .where(SeoBatchItem.error.is_null(False)).limit(3).tuples()
    ]
    failed = [
        (j.id, (j.metadata or {}).get(jm.ERROR))
        for j in SeoBatchJob.select().where(SeoBatchJob.status == JobStatus.FAILED).limit(3)
    ]
    return {"jobs": jobs, "items": items, "pages_with_seo": with_seo,
            "sample_errors": errors, "failed_jobs": failed}


@contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    """With ``path``, profile the role with pyinstrument (``pip install pyinstrument``)."""
    if not path:
        yield
        return
    from pyinstrument import Profiler  # optional: only with --profile (pip install pyinstrument)

    profiler = Profiler(interval=0.002)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        with open(path, "w") as f:
            f.write(profiler.output_text(unicode=True, color=False, show_all=False))
        print(f"profile written to {path}", file=sys.stderr)


ROLES = {"seed": role_seed, "stage": role_stage, "floor": role_floor, "verify": role_verify}


def main(argv: list[str]) -> int:
    role, raw = argv[0], (argv[1] if len(argv) > 1 else "{}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"bench[{role}] %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if os.environ.get("BENCH_NO_REVISIONS") == "1":
        from no_revisions import install  # a sibling, as floor and seed

        install()
    if os.environ.get("BENCH_NO_SITE_STAGE") == "1":
        from no_revisions import skip_site_stage

        skip_site_stage()
    database = open_counted(settings)
    QUERIES[0] = 0
    args = json.loads(raw)
    with database.connection_context(), _profiled(args.pop("profile", None)):
        out = ROLES[role](args, settings)
    out.setdefault("queries", QUERIES[0])
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
