"""Create or upgrade the tables, with a schema version so upgrades keep every row.

A fresh database gets the current tables and is stamped with ``SCHEMA_VERSION``;
an older one runs each migration after its version, in order, in one transaction.
``open_database`` is how every entry point connects: configure, connect (a one-line
error when it cannot), bring the schema up to date. It lives here, not in ``db.py``,
because ``db`` is below the models and cannot import them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import peewee

from . import db as _db
from .db import database, utcnow
from .errors import ConfigError
from .models import MODELS, Page, PageRevision, SeoBatchEvent
from .users import WEB_MODELS, WebUser

if TYPE_CHECKING:
    from .config import Settings

#: Bump when a model changes, and add the step that brings an older database along.
SCHEMA_VERSION = 7

#: The outbox's delivery record (``SeoBatchEvent``), added in version 2; (PostgreSQL, SQLite) types.
_EVENT_COLUMNS_V2 = (
    ("attempts", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("delivered_to", "JSONB", "TEXT"),
    ("last_error", "TEXT", "TEXT"),
    ("next_attempt_at", "TIMESTAMP", "DATETIME"),
    ("failed_at", "TIMESTAMP", "DATETIME"),
)


def add_column(database: peewee.DatabaseProxy, table: str, name: str, ddl: str) -> None:
    """``ALTER TABLE … ADD COLUMN``, unless the table has the column already (made from
    today's model). Every migration adds its columns through here: DDL takes no
    parameters, and the names and types are always our constants, never input."""
    if name not in {c.name for c in database.get_columns(table)}:
        database.execute_sql(  # sql-constant: migrations' own constants
            f'ALTER TABLE "{table}" ADD COLUMN "{name}" {ddl}'
        )


def _v2_event_delivery(database: peewee.DatabaseProxy) -> None:
    """Outbox rows record their attempts, the receivers that returned, the last error and
    failure; existing rows keep everything (attempts 0, nothing else set)."""
    postgres = _db.is_postgres()
    table = SeoBatchEvent._meta.table_name
    for name, pg_type, sqlite_type in _EVENT_COLUMNS_V2:
        ddl = pg_type if postgres else sqlite_type
        add_column(database, table, name, ddl)


#: A constant statement (the model's table name), so no SQL is built at the call.
_V3_ADD_H1 = f'ALTER TABLE "{Page._meta.table_name}" ADD COLUMN h1 TEXT'


def _v3_page_h1(database: peewee.DatabaseProxy) -> None:
    """``seo_pages.h1``, the page's main heading (NULL for pages imported before); a table
    that has it already (made from today's model) is left as it is."""
    add_column(database, Page._meta.table_name, "h1", "TEXT")


def _v4_web_users(database: peewee.DatabaseProxy) -> None:
    """The web page's users table (``seo_web_users``); touches no other table, and a
    database that has it already keeps it as it is."""
    database.create_tables([WebUser], safe=True)


#: Version 5's ``seo_pages.seo_locked``; (PostgreSQL, SQLite) types.
_V5_LOCKED = ("BOOLEAN NOT NULL DEFAULT FALSE", "INTEGER NOT NULL DEFAULT 0")
#: Version 1 and 2's unique (job, name) index on the outbox, which page events may repeat.
_V5_DROP_EVENT_INDEX = 'DROP INDEX IF EXISTS "seobatchevent_job_id_name"'

#: Version 5's back-fill: every page's original (the import's title), then the page's
#: current SEO fields as its published revision, made by the newest job that succeeded on
#: it (if any). Two INSERT … SELECT over the whole table, never a query per page.
_V5_ORIGINALS = (
    "INSERT INTO seo_page_revisions (page_id, title, state, source, created_at, flagged) "
    "SELECT p.id, p.title, 'superseded', 'original', p.created_at, FALSE FROM seo_pages p"
)
_V5_PUBLISHED = (
    "INSERT INTO seo_page_revisions (page_id, job_id, item_id, title, description, state, source, "
    "model, prompt_version, created_at, published_at, replaces_id, change_id, flagged) "
    "SELECT p.id, i.job_id, i.id, p.seo_title, p.seo_description, 'published', 'generated', "
    "p.seo_model, p.seo_prompt_version, COALESCE(p.seo_generated_at, p.updated_at), "
    "COALESCE(p.seo_generated_at, p.updated_at), o.id, 'upgrade', FALSE "
    "FROM seo_pages p JOIN seo_page_revisions o ON o.page_id = p.id AND o.source = 'original' "
    "LEFT JOIN seo_batch_items i ON i.id = (SELECT MAX(s.id) FROM seo_batch_items s "
    "WHERE s.page_id = p.id AND s.status = 'succeeded') "
    "WHERE p.seo_title IS NOT NULL OR p.seo_description IS NOT NULL"
)


def _v5_revisions(database: peewee.DatabaseProxy) -> None:
    """Pages gain ``seo_locked``; the revisions table arrives, back-filled from every page;
    the outbox's one-row-per-(job, name) rule narrows to the job lifecycle events."""
    add_column(database, Page._meta.table_name, "seo_locked", _V5_LOCKED[0 if _db.is_postgres() else 1])
    database.create_tables([PageRevision], safe=True)
    database.execute_sql(_V5_ORIGINALS)
    database.execute_sql(_V5_PUBLISHED)
    database.execute_sql(_V5_DROP_EVENT_INDEX)
    SeoBatchEvent._schema.create_indexes(safe=True)  # type: ignore[attr-defined]  # peewee: not in its stubs


#: Version 6: the quality gate's verdict on items, the pages' fingerprints and avoid list:
#: (table, column, PostgreSQL type, SQLite type).
_QUALITY_COLUMNS_V6 = (
    ("seo_batch_items", "verdict", "JSONB", "TEXT"),
    ("seo_pages", "seo_site", "TEXT", "TEXT"),
    ("seo_pages", "seo_title_key", "BIGINT", "INTEGER"),
    ("seo_pages", "seo_description_key", "BIGINT", "INTEGER"),
    ("seo_pages", "seo_skeleton_key", "BIGINT", "INTEGER"),
    ("seo_pages", "seo_h1_key", "BIGINT", "INTEGER"),
    ("seo_pages", "seo_avoid", "TEXT", "TEXT"),
)
#: The fingerprint indexes on seo_pages, named as the model names them.
_QUALITY_INDEXES_V6 = (
    'CREATE INDEX IF NOT EXISTS "seo_pages_seo_site_seo_title_key" ON "seo_pages" (seo_site, seo_title_key)',
    'CREATE INDEX IF NOT EXISTS "seo_pages_seo_site_seo_description_key" '
    'ON "seo_pages" (seo_site, seo_description_key)',
    'CREATE INDEX IF NOT EXISTS "seo_pages_seo_site_seo_skeleton_key" ON "seo_pages" (seo_site, seo_skeleton_key)',
    'CREATE INDEX IF NOT EXISTS "seo_pages_seo_site_seo_h1_key" ON "seo_pages" (seo_site, seo_h1_key)',
)


def _v6_quality(database: peewee.DatabaseProxy) -> None:
    """Items keep the gate's verdict; pages keep the fingerprints of their published SEO
    (NULL until their next success: the site stage and audit skip them) and the text
    the next prompt must avoid. Columns a table has already are kept."""
    postgres = _db.is_postgres()
    for table, name, pg_type, sqlite_type in _QUALITY_COLUMNS_V6:
        add_column(database, table, name, pg_type if postgres else sqlite_type)
    for ddl in _QUALITY_INDEXES_V6:
        database.execute_sql(ddl)


#: PostgreSQL only (GIN): the review queue's check filter on the proposals; a rare check's
#: first page took 300 ms walking the ids, 5 ms with it. A constant: DDL takes no parameters.
_REVIEW_CHECKS_INDEX = (
    'CREATE INDEX IF NOT EXISTS "seo_page_revisions_proposed_checks" ON "seo_page_revisions" '
    "USING gin (checks jsonb_path_ops) WHERE state = 'proposed'"
)


def review_check_index(database: peewee.DatabaseProxy) -> None:
    """The GIN index above, on PostgreSQL (SQLite has no GIN; its queue filters by scanning)."""
    if _db.is_postgres():
        database.execute_sql(_REVIEW_CHECKS_INDEX)


def _v7_review_queue_index(database: peewee.DatabaseProxy) -> None:
    """The review queue's indexes: the partial index on the proposals' ids
    (``seo_page_revisions_proposed``) and, on PostgreSQL, the GIN one on their checks.
    Self-contained so the integrator may renumber it: creates only missing indexes of the
    revisions table (IF NOT EXISTS), which on a version-5 table are just these."""
    PageRevision._schema.create_indexes(safe=True)  # type: ignore[attr-defined]  # peewee: not in its stubs
    review_check_index(database)


#: version → the step that upgrades a database from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[peewee.DatabaseProxy], None]] = {
    2: _v2_event_delivery, 3: _v3_page_h1, 4: _v4_web_users, 5: _v5_revisions, 6: _v6_quality,
    7: _v7_review_queue_index,
}

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
            database.create_tables([SchemaVersion, *MODELS, *WEB_MODELS], safe=True)
            review_check_index(database)  # the one index peewee's models cannot say
            SchemaVersion.create(version=SCHEMA_VERSION)
        else:
            for version in range(before + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](database)
                SchemaVersion.create(version=version)
        return before, max(before, SCHEMA_VERSION)


def open_database(settings: Settings, *, init: bool | None = None) -> peewee.Database:
    """Configure and connect to DATABASE_URL (a one-line ConfigError when it cannot).

    ``init`` None (every command but ``db init``): the database must have seobatch's
    current schema, else a ConfigError says what to run — a command never creates tables
    in whatever database the URL names. True: create or upgrade them (the demo's own
    file). False: connect only (``db init`` does the rest).
    """
    bound = _db.configure(settings.database_url)
    path = getattr(bound, "database", None)
    if init is None and isinstance(bound, peewee.SqliteDatabase) and path != ":memory:" \
            and not Path(str(path)).exists():
        # Connecting would leave an empty file behind.
        raise ConfigError(f"there is no database at {_db.describe_url(settings.database_url)}: "
                          "check DATABASE_URL, or create it with `seobatch db init`")
    try:
        bound.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to the database at {_db.describe_url(settings.database_url)}: {first}"
        ) from None
    if init:
        if current_version() < SCHEMA_VERSION:
            init_db()
    elif init is None:
        check_schema(settings)
    return bound


def check_schema(settings: Settings) -> None:
    """A ConfigError naming the database and `seobatch db init` unless its schema is current."""
    version = current_version()
    if version >= SCHEMA_VERSION:
        return
    where = _db.describe_url(settings.database_url)
    if version == 0:
        raise ConfigError(f"the database at {where} has no seobatch tables: check DATABASE_URL, "
                          "or create them with `seobatch db init`")
    raise ConfigError(f"the database at {where} has seobatch schema version {version}, this release "
                      f"needs {SCHEMA_VERSION}: run `seobatch db init` to upgrade it (every row is kept)")
