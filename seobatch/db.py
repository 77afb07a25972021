"""The database, bound late from a URL, and its versioned schema.

Nothing connects at import time: ``dramatiq`` forks worker processes, and each thread
opens its own connection on first use (peewee keeps connection state per thread).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlparse

import peewee
from playhouse import db_url  # type: ignore[import-untyped]  # peewee ships stubs for peewee only
from psycopg2.extensions import make_dsn

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
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with ``Z``, to the second; None stays None."""
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def configure(url: str) -> peewee.Database:
    """Bind the models to the database at ``url`` (peewee ``db_url`` form) and return it.

    A malformed URL is a ConfigError naming the problem, with the password masked.
    """
    kind = _check_url(url)
    if kind == "postgresql":
        extra: dict[str, Any] = {"autoconnect": True, "autorollback": False}
    else:
        # A writer waits for another instead of failing at once (threads, worker processes).
        extra = {"pragmas": dict(_SQLITE_PRAGMAS), "timeout": 30}
    try:
        db = db_url.connect(url, field_types=_FIELD_TYPES[kind], **extra)
    except (RuntimeError, ValueError) as exc:
        where = describe_url(url)
        raise ConfigError(f"DATABASE_URL is not usable: {str(exc).replace(url, where)} ({where})") from None
    previous = database.obj
    if previous is not None and not previous.is_closed():
        previous.close()
    database.initialize(db)
    return db


def _check_url(url: str) -> str:
    """``postgresql`` or ``sqlite``, or a ConfigError saying what is wrong with ``url``.

    The messages never repeat the URL's parts verbatim (a malformed URL can put a piece of
    the password where the port or the path should be): ``describe_url`` masks it.
    """
    where = describe_url(url)
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme.startswith("sqlite"):
        if parsed.netloc:
            raise ConfigError(
                "DATABASE_URL: sqlite URLs need three slashes, sqlite:///relative.db "
                f"(four for an absolute path, sqlite:////var/lib/seobatch.db); got {where}"
            )
        if parsed.path in ("", "/"):
            raise ConfigError(f"DATABASE_URL names no database file (e.g. sqlite:///seobatch.db); got {where}")
        return "sqlite"
    if not scheme.startswith("postgres"):
        raise ConfigError(
            f"DATABASE_URL must start with postgresql:// or sqlite:///, got scheme {parsed.scheme!r}"
        )
    try:
        parsed.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError:
        raise ConfigError(f"DATABASE_URL: the port is not a number from 1 to 65535 in {where}") from None
    if parsed.path in ("", "/"):
        raise ConfigError(
            f"DATABASE_URL names no database: postgresql://user@host:5432/DBNAME; got {where}"
        )
    options = dict(parse_qsl(parsed.query, keep_blank_values=True))
    if options:
        try:
            make_dsn(dbname="x", **options)  # the driver's own check of option names
        except Exception as exc:  # noqa: BLE001 - psycopg2.ProgrammingError: invalid dsn …
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"DATABASE_URL has a connection option PostgreSQL does not know: {first}") from None
    return "postgresql"


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the outermost transaction commits (at once outside a transaction).

    A rolled-back transaction drops its callbacks, so nothing runs for state that never
    committed: this is how events and next-stage messages are sent.
    """
    database.after_commit(fn)


def tuples(query: peewee.BaseQuery) -> Iterator[tuple[Any, ...]]:
    """``query``'s rows as plain tuples, streamed (peewee's stubs type ``.tuples()`` rows
    as model instances)."""
    rows: Iterator[tuple[Any, ...]] = iter(query.tuples())
    return rows


def seconds_between(start: Any, end: Any) -> Any:
    """SQL: seconds from the datetime column ``start`` to ``end`` (NULL without both).

    SQLite's julianday is in days, a double: rounded to the millisecond, so a bound such
    as a metrics bucket compares exactly."""
    if is_postgres():
        return peewee.fn.date_part("epoch", end - start)
    return peewee.fn.ROUND((peewee.fn.julianday(end) - peewee.fn.julianday(start)) * 86400, 3)


def json_text(field: Any, key: str) -> Any:
    """SQL: the value at top-level ``key`` of a JSON column as text (NULL when absent)."""
    if is_postgres():
        return peewee.fn.jsonb_extract_path_text(field, key)  # ``->>`` would JSON-encode the key
    return peewee.fn.json_extract(field, f"$.{key}")


def lock_for_update(query: peewee.Select) -> peewee.Select:
    """``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers on its own."""
    return query.for_update() if is_postgres() else query


@contextmanager
def connection(*, fresh: bool = False) -> Iterator[peewee.DatabaseProxy]:
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
    """The URL without its password or query, for messages (a malformed URL too).

    Everything between ``://`` and the last ``@`` is the user part, so a password with
    an unescaped ``/``, ``:`` or ``@`` is still masked whole.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    rest = rest.split("?", 1)[0]
    userinfo, at, hostpath = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}{':***' if colon else ''}@{hostpath}"
    return f"{head}{sep}{rest}"


#: pg_advisory_xact_lock key that serialises collectors and kickoffs (one page, one job).
COLLECT_LOCK_KEY = 0x5E0BC011

@contextmanager
def collector_lock() -> Iterator[None]:
    """One transaction at a time may choose pages for jobs (collect chunks, kickoffs).

    PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE`` already
    serialises writers. Two collectors therefore never put one page in two active jobs.
    """
    with write_transaction():
        if is_postgres():
            # Keyed by schema too: deployments in two schemas of one database don't wait on each other.
            database.execute_sql(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (COLLECT_LOCK_KEY,)
            )
        yield
