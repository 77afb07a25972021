"""The database, bound late from a URL, and its versioned schema.

Nothing connects at import time: ``dramatiq`` forks worker processes, and each thread
opens its own connection on first use (peewee keeps connection state per thread).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import peewee
from playhouse import db_url

from .errors import ConfigError

log = logging.getLogger(__name__)

#: The proxy every model is bound to; ``configure()`` points it at a real database.
database = peewee.DatabaseProxy()

#: Column types that differ between the two databases (peewee looks these names up).
_FIELD_TYPES = {
    "postgresql": {"SEOJSON": "JSONB", "SEOSTRING": "VARCHAR"},
    "sqlite": {"SEOJSON": "TEXT", "SEOSTRING": "VARCHAR"},
}

_SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -32 * 1024,
}


def utcnow() -> datetime:
    """Now in UTC, without tzinfo: what both databases store and compare."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with ``Z``, to the second; None stays None."""
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def configure(url: str) -> peewee.Database:
    """Bind the models to the database at ``url`` (peewee ``db_url`` form) and return it."""
    scheme = urlparse(url).scheme
    if scheme.startswith("postgres"):
        kind = "postgresql"
        extra: dict[str, Any] = {"autoconnect": True, "autorollback": False}
    elif scheme.startswith("sqlite"):
        kind = "sqlite"
        # A writer waits for another instead of failing at once (threads, worker processes).
        extra = {"pragmas": dict(_SQLITE_PRAGMAS), "timeout": 30}
    else:
        raise ConfigError(
            f"DATABASE_URL must start with postgresql:// or sqlite:///, got scheme {scheme!r}"
        )
    try:
        db = db_url.connect(url, field_types=_FIELD_TYPES[kind], **extra)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL is not usable: {exc}") from None
    previous = database.obj
    if previous is not None and not previous.is_closed():
        previous.close()
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the outermost transaction commits (at once outside a transaction).

    A rolled-back transaction drops its callbacks, so nothing runs for state that never
    committed: this is how events and next-stage messages are sent.
    """
    database.after_commit(fn)


def lock_for_update(query: peewee.Select) -> peewee.Select:
    """``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers on its own."""
    return query.for_update() if is_postgres() else query


@contextmanager
def connection(*, fresh: bool = False) -> Iterator[peewee.Database]:
    """Open a connection for a unit of work and close it at the end (unless already open).

    ``fresh``: drop whatever connection this thread holds first and close the new one at
    the end whatever happened — for long-lived loops (the clock), so a connection the
    server dropped (a restart, ``pg_terminate_backend``) costs at most one unit of work.
    """
    if fresh:
        drop_connection()
    opened = database.connect(reuse_if_open=True)
    try:
        yield database
    finally:
        if fresh:
            drop_connection()
        elif opened and not database.in_transaction():
            database.close()


def drop_connection() -> None:
    """Close this thread's connection, even one the server already dropped mid-transaction.

    peewee refuses to close while a transaction is open, and a rollback on a dead
    connection fails; without the fallback the thread would keep that dead connection
    and fail every later unit of work.
    """
    db = database.obj
    if db is None or db.is_closed():
        return
    try:
        if db.in_transaction():
            db.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; dropped below
        log.warning("rollback failed on a broken database connection; dropping it")
    try:
        db.close()
    except Exception:  # noqa: BLE001
        conn = db._state.conn
        db.dispose()  # forget it in this thread, transactions and all
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items without materialising ``items``."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class JSONField(peewee.Field):
    """``jsonb`` on PostgreSQL, JSON text on SQLite; always a Python value in code."""

    field_type = "SEOJSON"

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray)):
            return json.loads(value)
        return value  # psycopg2 already decoded jsonb


class StringField(peewee.CharField):
    """Rails' ``string``: ``character varying`` without a length limit."""

    field_type = "SEOSTRING"

    def get_modifiers(self) -> None:
        return None


def write_transaction() -> Any:
    """A transaction that takes the write lock up front on SQLite.

    SQLite refuses to upgrade a reading transaction to a writing one while another
    connection writes (SQLITE_BUSY without waiting); ``BEGIN IMMEDIATE`` waits instead.
    """
    if not is_postgres() and database.transaction_depth() == 0:
        return database.atomic("IMMEDIATE")
    return database.atomic()


def describe_url(url: str) -> str:
    """The URL without its password or query, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        url = url.replace(f":{parsed.password}@", ":***@", 1)
    return url.split("?", 1)[0]
