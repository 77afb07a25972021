"""Create or upgrade the tables, with a schema version so upgrades keep every row.

A fresh database gets the current tables and is stamped with ``SCHEMA_VERSION``;
an older one runs each migration after its version, in order, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from . import db as _db
from .db import database, utcnow
from .models import MODELS
from .web.models import WEB_MODELS, WebUser

#: Bump when a model changes, and add the step that brings an older database along.
SCHEMA_VERSION = 2


def add_web_users(database: peewee.Database) -> None:
    """2: the web page's users table (``seo_web_users``); touches no other table."""
    database.create_tables([WebUser], safe=True)


#: version → the step that upgrades a database from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {2: add_web_users}

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
            SchemaVersion.create(version=SCHEMA_VERSION)
        else:
            for version in range(before + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](database)
                SchemaVersion.create(version=version)
        return before, max(before, SCHEMA_VERSION)
