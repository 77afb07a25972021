"""The floor: the pipeline's database work on the same rows, done the fastest way.

Measured after the pipeline ran, on what it wrote, in a scratch copy of the items
table with the same columns, indexes and foreign keys:

- collect: read the page columns the collector reads (one COPY out) and write the
  same item rows collect wrote (one COPY in; ``executemany`` on SQLite);
- submit: read each job's ``custom_id`` and ``request`` (one COPY out per job);
- results: one ``UPDATE … FROM (VALUES …)`` per chunk for the items and one for the
  pages, a transaction per chunk, with the values the results stage wrote.

Only the statements are timed; preparing their input (exporting the pipeline's rows)
is not. Each floor runs right after its stage, so both see the same machine load.
Kickoff and poll are one or two statements per job and have no floor.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

from psycopg2.extras import execute_values

from seobatch import db as _db
from seobatch.db import database

#: Every statement is constant text: the tables are ours, values travel as parameters.
DROP_FLOOR = "DROP TABLE IF EXISTS bench_floor_items"
CREATE_FLOOR = "CREATE TABLE bench_floor_items (LIKE seo_batch_items INCLUDING ALL)"
FLOOR_FKS = (
    "ALTER TABLE bench_floor_items "
    "ADD FOREIGN KEY (job_id) REFERENCES seo_batch_jobs (id) ON DELETE CASCADE, "
    "ADD FOREIGN KEY (page_id) REFERENCES seo_pages (id) ON DELETE CASCADE"
)
JOB_IDS = "SELECT DISTINCT job_id FROM seo_batch_items ORDER BY job_id"
#: The item rows as collect wrote them (status ``pending``), with their ids.
EXPORT_ITEMS = (
    "COPY (SELECT id, job_id, page_id, custom_id, 'pending', request, content_hash, prompt_version, "
    "created_at, updated_at FROM seo_batch_items ORDER BY id) TO STDOUT"
)
COPY_ITEMS_IN = (
    "COPY bench_floor_items (id, job_id, page_id, custom_id, status, request, content_hash, "
    "prompt_version, created_at, updated_at) FROM STDIN"
)
#: What results wrote to items and to pages.
RESULTS_SELECT = (
    "SELECT id, status, result, error, input_tokens, output_tokens, completed_at "
    "FROM seo_batch_items ORDER BY id"
)
PAGES_SELECT = (
    "SELECT id, seo_title, seo_description, seo_model, seo_generated_at, seo_content_hash, "
    "seo_prompt_version FROM seo_pages WHERE seo_title IS NOT NULL ORDER BY id"
)
EXPORT_RESULTS = "COPY (" + RESULTS_SELECT + ") TO STDOUT"
EXPORT_PAGES = "COPY (" + PAGES_SELECT + ") TO STDOUT"
#: The columns collect reads from pages.
READ_PAGES = "COPY (SELECT id, url, title, content, attributes, content_hash FROM seo_pages) TO STDOUT"
READ_PAGES_SQLITE = "SELECT id, url, title, content, attributes, content_hash FROM seo_pages"
#: submit's read of one job's requests (the job id is bound by the driver).
READ_REQUESTS = "SELECT custom_id, request FROM bench_floor_items WHERE job_id = %s ORDER BY id"
READ_REQUESTS_SQLITE = "SELECT custom_id, request FROM bench_floor_items WHERE job_id = ? ORDER BY id"
UPDATE_ITEMS_PG = (
    "UPDATE bench_floor_items AS t SET status = v.status, result = v.result, error = v.error, "
    "input_tokens = v.input_tokens, output_tokens = v.output_tokens, "
    "completed_at = v.completed_at, updated_at = v.completed_at "
    "FROM (VALUES %s) AS v (id, status, result, error, input_tokens, output_tokens, completed_at) "
    "WHERE t.id = v.id"
)
UPDATE_PAGES_PG = (
    "UPDATE seo_pages AS t SET seo_title = v.seo_title, seo_description = v.seo_description, "
    "seo_model = v.seo_model, seo_generated_at = v.seo_generated_at, "
    "seo_content_hash = v.seo_content_hash, seo_prompt_version = v.seo_prompt_version, "
    "seo_attempts = 0, seo_last_error = NULL, updated_at = v.seo_generated_at "
    "FROM (VALUES %s) AS v (id, seo_title, seo_description, seo_model, seo_generated_at, "
    "seo_content_hash, seo_prompt_version) WHERE t.id = v.id"
)
ITEM_TEMPLATE_PG = "(%s::bigint, %s::text, %s::jsonb, %s::text, %s::integer, %s::integer, %s::timestamp)"
PAGE_TEMPLATE_PG = "(%s::bigint, %s::text, %s::text, %s::text, %s::timestamp, %s::text, %s::text)"

_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}


SQLITE_FLOOR = (
    "CREATE TABLE bench_floor_items AS SELECT * FROM seo_batch_items WHERE 0",
    "CREATE UNIQUE INDEX bench_floor_pk ON bench_floor_items (id)",
    "CREATE INDEX bench_floor_job ON bench_floor_items (job_id)",
    "CREATE UNIQUE INDEX bench_floor_job_custom ON bench_floor_items (job_id, custom_id)",
    "CREATE INDEX bench_floor_job_status ON bench_floor_items (job_id, status)",
    "CREATE INDEX bench_floor_page ON bench_floor_items (page_id)",
    "CREATE INDEX bench_floor_page_status ON bench_floor_items (page_id, status)",
)
SQLITE_TEMP = (
    "CREATE TEMP TABLE bench_v_items (id, status, result, error, input_tokens, output_tokens, completed_at)",
    "CREATE TEMP TABLE bench_v_pages (id, seo_title, seo_description, seo_model, seo_generated_at, "
    "seo_content_hash, seo_prompt_version)",
)
SQLITE_EXPORT_ITEMS = (
    "SELECT id, job_id, page_id, custom_id, 'pending', request, content_hash, prompt_version, "
    "created_at, updated_at FROM seo_batch_items ORDER BY id"
)
SQLITE_INSERT_ITEMS = (
    "INSERT INTO bench_floor_items (id, job_id, page_id, custom_id, status, request, content_hash, "
    "prompt_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQLITE_FILL_ITEMS = "INSERT INTO temp.bench_v_items VALUES (?, ?, ?, ?, ?, ?, ?)"
SQLITE_FILL_PAGES = "INSERT INTO temp.bench_v_pages VALUES (?, ?, ?, ?, ?, ?, ?)"
SQLITE_UPDATE_ITEMS = (
    "UPDATE bench_floor_items AS t SET status = v.status, result = v.result, error = v.error, "
    "input_tokens = v.input_tokens, output_tokens = v.output_tokens, completed_at = v.completed_at, "
    "updated_at = v.completed_at FROM temp.bench_v_items AS v WHERE t.id = v.id"
)
SQLITE_UPDATE_PAGES = (
    "UPDATE seo_pages AS t SET seo_title = v.seo_title, seo_description = v.seo_description, "
    "seo_model = v.seo_model, seo_generated_at = v.seo_generated_at, "
    "seo_content_hash = v.seo_content_hash, seo_prompt_version = v.seo_prompt_version, "
    "seo_attempts = 0, seo_last_error = NULL, updated_at = v.seo_generated_at "
    "FROM temp.bench_v_pages AS v WHERE t.id = v.id"
)
SQLITE_CLEAR = ("DELETE FROM temp.bench_v_items", "DELETE FROM temp.bench_v_pages")
SQLITE_DROP = ("DROP TABLE IF EXISTS temp.bench_v_items", "DROP TABLE IF EXISTS temp.bench_v_pages")


class _Sink:
    """A file that counts and drops what COPY … TO STDOUT writes."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: Any) -> int:
        self.bytes += len(data)
        return len(data)


def measure_floor(stage: str, *, chunk_size: int) -> float:
    """Seconds of the floor of ``stage`` (collect, submit or results), run right after the
    pipeline's own stage so both see the same machine load. Collect creates the scratch
    table, results drops it."""
    floor = _PostgresFloor(chunk_size) if _db.is_postgres() else _SqliteFloor(chunk_size)
    return getattr(floor, stage)()


def _job_ids() -> list[int]:
    return [int(row[0]) for row in database.execute_sql(JOB_IDS).fetchall()]


class _PostgresFloor:
    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    @staticmethod
    def _copy(sql: Any, f: Any) -> None:
        with database.cursor() as cursor:
            cursor.copy_expert(sql, f)

    def collect(self) -> float:
        for sql in (DROP_FLOOR, CREATE_FLOOR, FLOOR_FKS):
            database.execute_sql(sql)
        with tempfile.TemporaryFile() as items:
            self._copy(EXPORT_ITEMS, items)
            items.seek(0)
            started = time.perf_counter()
            self._copy(READ_PAGES, _Sink())
            self._copy(COPY_ITEMS_IN, items)
            return time.perf_counter() - started

    def submit(self) -> float:
        jobs = _job_ids()
        started = time.perf_counter()
        for job_id in jobs:
            with database.cursor() as cursor:
                # COPY takes no parameters: the driver binds the job id into the query.
                query = cursor.mogrify(READ_REQUESTS, (job_id,)).decode()
                cursor.copy_expert("COPY (" + query + ") TO STDOUT", _Sink())
        return time.perf_counter() - started

    def results(self) -> float:
        with tempfile.TemporaryFile() as results, tempfile.TemporaryFile() as pages:
            self._copy(EXPORT_RESULTS, results)
            self._copy(EXPORT_PAGES, pages)
            results.seek(0)
            pages.seek(0)
            item_chunks = _read_copy_chunks(results, self.chunk_size)
            page_chunks = _read_copy_chunks(pages, self.chunk_size)
            spent = 0.0
            while True:
                item_rows = next(item_chunks, None)
                page_rows = next(page_chunks, None)
                if item_rows is None and page_rows is None:
                    break
                started = time.perf_counter()
                with database.atomic(), database.cursor() as cursor:
                    if item_rows:
                        execute_values(cursor, UPDATE_ITEMS_PG, item_rows, template=ITEM_TEMPLATE_PG,
                                       page_size=len(item_rows))
                    if page_rows:
                        execute_values(cursor, UPDATE_PAGES_PG, page_rows, template=PAGE_TEMPLATE_PG,
                                       page_size=len(page_rows))
                spent += time.perf_counter() - started
        database.execute_sql(DROP_FLOOR)
        return spent


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
    """SQLite has no COPY: plain SELECTs, ``executemany``, and a set-based UPDATE … FROM
    a temporary table filled per chunk (``executemany`` runs in-process there)."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size

    def collect(self) -> float:
        for sql in (DROP_FLOOR, *SQLITE_FLOOR):
            database.execute_sql(sql)
        source = database.connection().cursor()
        source.execute(SQLITE_EXPORT_ITEMS)
        started = time.perf_counter()
        for _ in database.execute_sql(READ_PAGES_SQLITE):
            pass
        spent = time.perf_counter() - started
        while rows := source.fetchmany(self.chunk_size):
            started = time.perf_counter()
            with database.atomic():
                database.cursor().executemany(SQLITE_INSERT_ITEMS, rows)
            spent += time.perf_counter() - started
        return spent

    def submit(self) -> float:
        jobs = _job_ids()
        started = time.perf_counter()
        for job_id in jobs:
            for _ in database.execute_sql(READ_REQUESTS_SQLITE, (job_id,)):
                pass
        return time.perf_counter() - started

    def results(self) -> float:
        for sql in (*SQLITE_DROP, *SQLITE_TEMP):
            database.execute_sql(sql)
        items = database.connection().cursor()
        items.execute(RESULTS_SELECT)
        pages = database.connection().cursor()
        pages.execute(PAGES_SELECT)
        spent = 0.0
        while True:
            item_rows = items.fetchmany(self.chunk_size)
            page_rows = pages.fetchmany(self.chunk_size)
            if not item_rows and not page_rows:
                break
            started = time.perf_counter()
            with database.atomic():
                database.cursor().executemany(SQLITE_FILL_ITEMS, item_rows)
                database.cursor().executemany(SQLITE_FILL_PAGES, page_rows)
                database.execute_sql(SQLITE_UPDATE_ITEMS)
                database.execute_sql(SQLITE_UPDATE_PAGES)
                for sql in SQLITE_CLEAR:
                    database.execute_sql(sql)
            spent += time.perf_counter() - started
        for sql in (DROP_FLOOR, *SQLITE_DROP):
            database.execute_sql(sql)
        return spent
