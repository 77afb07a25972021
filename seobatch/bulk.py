"""Set-based writes: one ``UPDATE … FROM (VALUES …)`` per chunk, never a query per row;
items inserted with one COPY per chunk on PostgreSQL.

PostgreSQL and SQLite (3.33+) both accept ``WITH v(cols) AS (VALUES …) UPDATE t … FROM v``.
Table and column names come from our models, never from input; every value travels as
a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from . import db as _db
from .db import database
from .models import SeoBatchItem

#: PostgreSQL types for the VALUES columns (untyped parameters would arrive as text).
PG_TYPES = {
    "bigint": "bigint",
    "int": "integer",
    "text": "text",
    "json": "jsonb",
    "timestamp": "timestamp",
}

#: Parameters per statement, under SQLite's limit of 32,766.
MAX_PARAMS = 30_000


def bulk_update(
    table: str,
    *,
    key: str,
    columns: Sequence[tuple[str, str]],
    assignments: Sequence[str],
    rows: Sequence[Sequence[Any]],
    where: str = "",
    params: Sequence[Any] = (),
) -> int:
    """``UPDATE table AS t SET <assignments> FROM v WHERE t.<key> = v.<key> <where>``.

    ``columns`` names and types the VALUES columns (the first is the key); each of
    ``assignments`` is ``"column = expression"`` over ``t.*`` and ``v.*`` (our own
    constant SQL). ``where`` adds conditions with ``params``. Returns the rows changed.
    """
    per_statement = max(1, MAX_PARAMS // max(1, len(columns)))
    changed = 0
    for start in range(0, len(rows), per_statement):
        changed += _update(table, key, columns, assignments, rows[start : start + per_statement], where, params)
    return changed


def _update(
    table: str,
    key: str,
    columns: Sequence[tuple[str, str]],
    assignments: Sequence[str],
    rows: Sequence[Sequence[Any]],
    where: str,
    params: Sequence[Any],
) -> int:
    pg = _db.is_postgres()
    mark = database.param
    if pg:
        row_sql = "(" + ", ".join(f"{mark}::{PG_TYPES[kind]}" for _, kind in columns) + ")"
    else:
        row_sql = "(" + ", ".join(mark for _ in columns) + ")"
    names = ", ".join(name for name, _ in columns)
    sql = (
        "WITH v (" + names + ") AS (VALUES " + ", ".join([row_sql] * len(rows)) + ") "
        "UPDATE " + table + " AS t SET " + ", ".join(assignments) + " FROM v "
        "WHERE t." + key + " = v." + key + (" AND " + where.replace("%s", mark) if where else "")
    )
    values: list[Any] = [value for row in rows for value in row]
    values.extend(params)
    cursor = database.execute_sql(sql, values)  # sql-constant: our tables and columns; values are parameters
    return cursor.rowcount


#: The columns collect writes, in the order of its rows; ``request`` is JSON text.
ITEM_COLUMNS = ("job_id", "page_id", "custom_id", "status", "request", "content_hash",
                "prompt_version", "created_at", "updated_at")
_ITEMS_COPY = f"COPY seo_batch_items ({', '.join(ITEM_COLUMNS)}) FROM STDIN"
_ITEMS_INSERT_SQLITE = (
    f"INSERT OR IGNORE INTO seo_batch_items ({', '.join(ITEM_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ITEM_COLUMNS)})"
)


def insert_items(rows: Iterable[Sequence[Any]]) -> None:
    """Insert item rows (``ITEM_COLUMNS``; the request already encoded as JSON text).

    PostgreSQL: one COPY, the fastest write it has (about twice an INSERT of the same
    rows, and no per-row work in peewee), fed as the rows are produced. COPY cannot skip
    existing rows; the collector lock makes a clash impossible, but if one happens anyway
    the chunk falls back to an INSERT that ignores conflicts, inside a savepoint.
    SQLite: one ``executemany``.
    """
    if not _db.is_postgres():
        database.cursor().executemany(_ITEMS_INSERT_SQLITE, list(rows))
        return
    import psycopg2

    stream = _CopyStream(rows)
    try:
        with database.atomic():  # a savepoint inside the chunk's transaction
            cursor = database.cursor()
            try:
                cursor.copy_expert(_ITEMS_COPY, stream, size=_COPY_READ_CHARS)
            finally:
                cursor.close()
    except psycopg2.IntegrityError:
        _insert_ignoring_conflicts(stream.all_rows())


#: What the COPY asks for at a time: a dozen requests.
_COPY_READ_CHARS = 64 * 1024


class _CopyStream:
    """A file for ``COPY … FROM STDIN`` that makes its lines only when they are read, so
    the server parses one part of a chunk while Python produces the next."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self._taken: list[Sequence[Any]] = []

    def read(self, size: int = -1) -> str:
        parts: list[str] = []
        length = 0
        for row in self._rows:
            self._taken.append(row)
            line = "\t".join([_copy_text(value) for value in row]) + "\n"
            parts.append(line)
            length += len(line)
            if 0 < size <= length:
                break
        return "".join(parts)

    def all_rows(self) -> list[Sequence[Any]]:
        """Every row, read or not (the fallback inserts them all)."""
        return self._taken + list(self._rows)


def _copy_text(value: Any) -> str:
    """One field in COPY's text format."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _insert_ignoring_conflicts(rows: Sequence[Sequence[Any]]) -> None:

    fields = [SeoBatchItem._meta.columns[name] for name in ITEM_COLUMNS]
    decoded = [(*row[:4], json.loads(row[4]), *row[5:]) for row in rows]
    SeoBatchItem.insert_many(decoded, fields=fields).on_conflict_ignore().as_rowcount().execute()


def copy_rows(copy_sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: stream ``rows`` in with ``copy_sql`` (``COPY table (columns) FROM STDIN``,
    a constant of the caller's), inside the current transaction. Values as COPY text:
    None is NULL, JSON already encoded, booleans as ``True``/``False``."""
    cursor = database.cursor()
    try:
        cursor.copy_expert(copy_sql, _CopyStream(rows), size=_COPY_READ_CHARS)
    finally:
        cursor.close()
