"""The floor: the pipeline's database work on the same rows, done the fastest way.

Measured after the pipeline ran, on what it wrote, in a scratch copy of the items
table with the same columns, indexes and foreign keys:

- collect: read the page columns the collector reads (one COPY out) and write the
  same item rows collect wrote (one COPY in; ``executemany`` on SQLite);
- submit: read each job's ``custom_id`` and ``request`` (one COPY out per job);
- results: one ``UPDATE … FROM (VALUES …)`` per chunk for the items and one for the
  pages, a transaction per chunk, with the values the results stage wrote.

Only the statements are timed; preparing their input (exporting the pipeline's rows)
is not. Kickoff and poll are one or two statements per job and have no floor.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

from .. import db as _db
from ..db import database

FLOOR_TABLE = "bench_floor_items"
ITEM_COLUMNS = ("id", "job_id", "page_id", "custom_id", "status", "request", "content_hash",
                "prompt_version", "created_at", "updated_at")
RESULT_COLUMNS = ("id", "status", "result", "error", "input_tokens", "output_tokens", "completed_at")
PAGE_COLUMNS = ("id", "seo_title", "seo_description", "seo_model", "seo_generated_at",
                "seo_content_hash", "seo_prompt_version")
PAGE_READ = "id, url, title, content, attributes, content_hash"

_PG_ITEM_TYPES = ("bigint", "text", "jsonb", "text", "integer", "integer", "timestamp")
_PG_PAGE_TYPES = ("bigint", "text", "text", "text", "timestamp", "text", "text")
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}


class _Sink:
    """A file that counts and drops what COPY … TO STDOUT writes."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: Any) -> int:
        self.bytes += len(data)
        return len(data)


def measure_floor(*, chunk_size: int) -> dict[str, Any]:
    if _db.is_postgres():
        return _PostgresFloor(chunk_size).run()
    return _SqliteFloor(chunk_size).run()


def _job_ids() -> list[int]:
    cursor = database.execute_sql("SELECT DISTINCT job_id FROM seo_batch_items ORDER BY job_id")
    return [int(row[0]) for row in cursor.fetchall()]


class _PostgresFloor:
    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    def run(self) -> dict[str, Any]:
        with tempfile.TemporaryFile() as items, tempfile.TemporaryFile() as results, \
                tempfile.TemporaryFile() as pages:
            self._prepare(items, results, pages)
            try:
                collect = self._collect(items)
                submit = self._submit()
                results_s = self._results(results, pages)
            finally:
                database.execute_sql(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        return {"collect": collect, "submit": submit, "results": results_s}

    def _copy_out(self, sql: str, out: IO[bytes] | _Sink) -> None:
        with database.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT", out)

    def _prepare(self, items: IO[bytes], results: IO[bytes], pages: IO[bytes]) -> None:
        database.execute_sql(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        database.execute_sql(f"CREATE TABLE {FLOOR_TABLE} (LIKE seo_batch_items INCLUDING ALL)")
        database.execute_sql(
            f"ALTER TABLE {FLOOR_TABLE} "
            "ADD FOREIGN KEY (job_id) REFERENCES seo_batch_jobs (id) ON DELETE CASCADE, "
            "ADD FOREIGN KEY (page_id) REFERENCES seo_pages (id) ON DELETE CASCADE"
        )
        cols = ", ".join("'pending'" if c == "status" else c for c in ITEM_COLUMNS)
        self._copy_out(f"SELECT {cols} FROM seo_batch_items ORDER BY id", items)
        self._copy_out(f"SELECT {', '.join(RESULT_COLUMNS)} FROM seo_batch_items ORDER BY id", results)
        self._copy_out(
            f"SELECT {', '.join(PAGE_COLUMNS)} FROM seo_pages WHERE seo_title IS NOT NULL ORDER BY id", pages
        )
        for f in (items, results, pages):
            f.seek(0)

    def _collect(self, items: IO[bytes]) -> float:
        started = time.perf_counter()
        self._copy_out(f"SELECT {PAGE_READ} FROM seo_pages", _Sink())
        with database.cursor() as cursor:
            cursor.copy_expert(f"COPY {FLOOR_TABLE} ({', '.join(ITEM_COLUMNS)}) FROM STDIN", items)
        return time.perf_counter() - started

    def _submit(self) -> float:
        jobs = _job_ids()
        started = time.perf_counter()
        for job_id in jobs:
            self._copy_out(
                f"SELECT custom_id, request FROM {FLOOR_TABLE} WHERE job_id = {int(job_id)} ORDER BY id",
                _Sink(),
            )
        return time.perf_counter() - started

    def _results(self, results: IO[bytes], pages: IO[bytes]) -> float:
        from psycopg2.extras import execute_values

        item_sql = (
            f"UPDATE {FLOOR_TABLE} AS t SET status = v.status, result = v.result, error = v.error, "
            "input_tokens = v.input_tokens, output_tokens = v.output_tokens, "
            "completed_at = v.completed_at, updated_at = v.completed_at "
            f"FROM (VALUES %s) AS v ({', '.join(RESULT_COLUMNS)}) WHERE t.id = v.id"
        )
        page_sql = (
            "UPDATE seo_pages AS t SET seo_title = v.seo_title, seo_description = v.seo_description, "
            "seo_model = v.seo_model, seo_generated_at = v.seo_generated_at, "
            "seo_content_hash = v.seo_content_hash, seo_prompt_version = v.seo_prompt_version, "
            "seo_attempts = 0, seo_last_error = NULL, updated_at = v.seo_generated_at "
            f"FROM (VALUES %s) AS v ({', '.join(PAGE_COLUMNS)}) WHERE t.id = v.id"
        )
        item_tpl = "(" + ", ".join(f"%s::{t}" for t in _PG_ITEM_TYPES) + ")"
        page_tpl = "(" + ", ".join(f"%s::{t}" for t in _PG_PAGE_TYPES) + ")"
        item_chunks = _read_copy_chunks(results, self.chunk_size)
        page_chunks = _read_copy_chunks(pages, self.chunk_size)
        spent = 0.0
        while True:
            item_rows = next(item_chunks, None)
            page_rows = next(page_chunks, None)
            if item_rows is None and page_rows is None:
                return spent
            started = time.perf_counter()
            with database.atomic(), database.cursor() as cursor:
                if item_rows:
                    execute_values(cursor, item_sql, item_rows, template=item_tpl, page_size=len(item_rows))
                if page_rows:
                    execute_values(cursor, page_sql, page_rows, template=page_tpl, page_size=len(page_rows))
            spent += time.perf_counter() - started


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    return _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), field)


def _read_copy_chunks(f: IO[bytes], size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of a COPY text file, ``size`` at a time, as strings (the SQL casts them)."""
    chunk: list[tuple[Any, ...]] = []
    for line in f:
        chunk.append(tuple(_unescape(v) for v in line.decode("utf-8").rstrip("\n").split("\t")))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _SqliteFloor:
    """SQLite has no COPY: plain SELECTs, ``executemany`` and ``UPDATE … FROM (VALUES …)``."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    def run(self) -> dict[str, Any]:
        self._prepare()
        try:
            return {"collect": self._collect(), "submit": self._submit(), "results": self._results()}
        finally:
            database.execute_sql(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")

    def _prepare(self) -> None:
        database.execute_sql(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        rows = database.execute_sql(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'seo_batch_items' AND sql IS NOT NULL"
        ).fetchall()
        for kind, sql in sorted(rows, key=lambda r: r[0] != "table"):
            sql = sql.replace('"seo_batch_items"', f'"{FLOOR_TABLE}"').replace(
                "seo_batch_items", FLOOR_TABLE)
            if kind == "index":
                sql = re.sub(r'INDEX\s+"?(\w+)"?', lambda m: f'INDEX "floor_{m.group(1)}"', sql, count=1)
            database.execute_sql(sql)

    def _collect(self) -> float:
        cols = ", ".join("'pending'" if c == "status" else c for c in ITEM_COLUMNS)
        source = database.connection().cursor()
        source.execute(f"SELECT {cols} FROM seo_batch_items ORDER BY id")
        spent = 0.0
        started = time.perf_counter()
        for _ in database.connection().execute(f"SELECT {PAGE_READ} FROM seo_pages"):
            pass
        spent += time.perf_counter() - started
        insert = (f"INSERT INTO {FLOOR_TABLE} ({', '.join(ITEM_COLUMNS)}) "
                  f"VALUES ({', '.join('?' for _ in ITEM_COLUMNS)})")
        while rows := source.fetchmany(self.chunk_size):
            started = time.perf_counter()
            with database.atomic():
                database.cursor().executemany(insert, rows)
            spent += time.perf_counter() - started
        return spent

    def _submit(self) -> float:
        jobs = _job_ids()
        started = time.perf_counter()
        for job_id in jobs:
            for _ in database.cursor().execute(
                f"SELECT custom_id, request FROM {FLOOR_TABLE} WHERE job_id = ? ORDER BY id", (job_id,)
            ):
                pass
        return time.perf_counter() - started

    def _results(self) -> float:
        items = database.connection().cursor()
        items.execute(f"SELECT {', '.join(RESULT_COLUMNS)} FROM seo_batch_items ORDER BY id")
        pages = database.connection().cursor()
        pages.execute(f"SELECT {', '.join(PAGE_COLUMNS)} FROM seo_pages WHERE seo_title IS NOT NULL ORDER BY id")
        spent = 0.0
        while True:
            item_rows = items.fetchmany(self.chunk_size)
            page_rows = pages.fetchmany(self.chunk_size)
            if not item_rows and not page_rows:
                return spent
            started = time.perf_counter()
            with database.atomic():
                for table, cols, rows, sets in (
                    (FLOOR_TABLE, RESULT_COLUMNS, item_rows,
                     "status = v.status, result = v.result, error = v.error, input_tokens = v.input_tokens, "
                     "output_tokens = v.output_tokens, completed_at = v.completed_at, "
                     "updated_at = v.completed_at"),
                    ("seo_pages", PAGE_COLUMNS, page_rows,
                     "seo_title = v.seo_title, seo_description = v.seo_description, seo_model = v.seo_model, "
                     "seo_generated_at = v.seo_generated_at, seo_content_hash = v.seo_content_hash, "
                     "seo_prompt_version = v.seo_prompt_version, seo_attempts = 0, seo_last_error = NULL, "
                     "updated_at = v.seo_generated_at"),
                ):
                    if not rows:
                        continue
                    per = max(1, 30_000 // len(cols))
                    for start in range(0, len(rows), per):
                        part = rows[start:start + per]
                        values = ", ".join(["(" + ", ".join("?" for _ in cols) + ")"] * len(part))
                        database.cursor().execute(
                            f"WITH v ({', '.join(cols)}) AS (VALUES {values}) "
                            f"UPDATE {table} AS t SET {sets} FROM v WHERE t.id = v.id",
                            [x for row in part for x in row],
                        )
            spent += time.perf_counter() - started
