"""Set-based writes: one ``UPDATE … FROM (VALUES …)`` per chunk, never a query per row.

PostgreSQL and SQLite (3.33+) both accept ``WITH v(cols) AS (VALUES …) UPDATE t … FROM v``.
Table and column names come from our models, never from input; every value travels as
a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import db as _db
from ..db import database

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
    cursor = database.execute_sql(sql, values)  # sql-constant: table/column names are our model constants; every value is a parameter
    return cursor.rowcount
