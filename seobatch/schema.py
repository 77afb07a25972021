"""Create or upgrade the tables, with a schema version so upgrades keep every row.

A fresh database gets the current tables and is stamped with ``SCHEMA_VERSION``;
an older one runs each migration after its version, in order, in one transaction.
``open_database`` is how every entry point connects: configure, connect (a one-line
error when it cannot), bring the schema up to date. It lives here, not in ``db.py``,
because ``db`` is below the models and cannot import them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import peewee

from . import db as _db
from .db import database, utcnow
from .errors import ConfigError
from .models import MODELS, Page, SeoBatchEvent

if TYPE_CHECKING:
    from .config import Settings

#: Bump when a model changes, and add the step that brings an older database along.
SCHEMA_VERSION = 4

#: The outbox's delivery record (``SeoBatchEvent``), added in version 2; (PostgreSQL, SQLite) types.
_EVENT_COLUMNS_V2 = (
    ("attempts", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("delivered_to", "JSONB", "TEXT"),
    ("last_error", "TEXT", "TEXT"),
    ("next_attempt_at", "TIMESTAMP", "DATETIME"),
    ("failed_at", "TIMESTAMP", "DATETIME"),
)


def _v2_event_delivery(database: peewee.DatabaseProxy) -> None:
    """Outbox rows record their attempts, the receivers that returned, the last error and
    failure; existing rows keep everything (attempts 0, nothing else set)."""
    postgres = _db.is_postgres()
    table = SeoBatchEvent._meta.table_name
    for name, pg_type, sqlite_type in _EVENT_COLUMNS_V2:
        ddl = pg_type if postgres else sqlite_type
        database.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {ddl}')  # sql-constant: names and types are this module's constants (DDL takes no parameters)


#: A constant statement (the model's table name), so no SQL is built at the call.
_V3_ADD_H1 = f'ALTER TABLE "{Page._meta.table_name}" ADD COLUMN h1 TEXT'


def _v3_page_h1(database: peewee.DatabaseProxy) -> None:
    """``seo_pages.h1``, the page's main heading (NULL for pages imported before); a table
    that has it already (made from today's model) is left as it is."""
    if "h1" not in {c.name for c in database.get_columns(Page._meta.table_name)}:
        database.execute_sql(_V3_ADD_H1)


#: Version 4: the quality gate's verdict on items, the pages' fingerprints and avoid list:
#: (table, column, PostgreSQL DDL, SQLite DDL), each a constant statement.
_QUALITY_COLUMNS_V4 = tuple(
    (table, name, f'ALTER TABLE "{table}" ADD COLUMN "{name}" {pg}',
     f'ALTER TABLE "{table}" ADD COLUMN "{name}" {lite}')
    for table, name, pg, lite in (
        ("seo_batch_items", "verdict", "JSONB", "TEXT"),
        ("seo_pages", "seo_site", "TEXT", "TEXT"),
        ("seo_pages", "seo_title_key", "BIGINT", "INTEGER"),
        ("seo_pages", "seo_description_key", "BIGINT", "INTEGER"),
        ("seo_pages", "seo_skeleton_key", "BIGINT", "INTEGER"),
        ("seo_pages", "seo_h1_key", "BIGINT", "INTEGER"),
        ("seo_pages", "seo_avoid", "TEXT", "TEXT"),
    )
)
#: The fingerprint indexes on seo_pages, named as the model names them.
_QUALITY_INDEXES_V4 = tuple(
    f'CREATE INDEX IF NOT EXISTS "seo_pages_seo_site_{column}" ON "seo_pages" (seo_site, {column})'
    for column in ("seo_title_key", "seo_description_key", "seo_skeleton_key", "seo_h1_key")
)


def _v4_quality(database: peewee.DatabaseProxy) -> None:
    """Items keep the gate's verdict; pages keep the fingerprints of their published SEO
    (NULL until their next success: the site stage and audit skip them) and the text
    the next prompt must avoid. Self-contained: columns a table has already are kept."""
    postgres = _db.is_postgres()
    for table, name, pg_ddl, sqlite_ddl in _QUALITY_COLUMNS_V4:
        if name not in {c.name for c in database.get_columns(table)}:
            database.execute_sql(pg_ddl if postgres else sqlite_ddl)
    for ddl in _QUALITY_INDEXES_V4:
        database.execute_sql(ddl)


#: version → the step that upgrades a database from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[peewee.DatabaseProxy], None]] = {2: _v2_event_delivery, 3: _v3_page_h1, 4: _v4_quality}

_LOCK_KEY = 0x5E0BA7C4  # serialises concurrent `db init` on PostgreSQL


class SchemaVersion(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "seobatch_schema"


def current_version() -> int:
    """The version stamped in the database, 0 for an empty one."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return 0
    return SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar() or 0


def init_db() -> tuple[int, int]:
    """Create or upgrade the schema; safe to run twice or at once. Returns (before, after)."""
    with database.connection_context(), _db.write_transaction():
        if _db.is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        before = current_version()
        if before == 0:
            database.create_tables([SchemaVersion, *MODELS], safe=True)
            SchemaVersion.create(version=SCHEMA_VERSION)
        else:
            for version in range(before + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](database)
                SchemaVersion.create(version=version)
        return before, max(before, SCHEMA_VERSION)


def open_database(settings: Settings, *, init: bool = True) -> peewee.Database:
    """Configure and connect to DATABASE_URL (a one-line ConfigError when it cannot);
    with ``init``, make sure the tables exist and are current."""
    bound = _db.configure(settings.database_url)
    try:
        bound.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to the database at {_db.describe_url(settings.database_url)}: {first}"
        ) from None
    if init and current_version() < SCHEMA_VERSION:
        init_db()
    return bound
