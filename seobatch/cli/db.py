"""``seobatch db init``: create or upgrade the tables."""

from __future__ import annotations

import argparse

from .. import db, schema
from ..config import Settings
from .common import group_help, open_database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "db", help="create or upgrade the database tables (db init)",
        description="Manage seobatch's tables in DATABASE_URL (PostgreSQL or SQLite).",
        epilog="example:\n  DATABASE_URL=postgresql://seo@db/seobatch seobatch db init",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=group_help(parser))
    db_sub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    init = db_sub.add_parser(
        "init", help="create or upgrade the tables; safe to run twice",
        description="Create the tables in DATABASE_URL, or upgrade them to this version's "
        "schema without losing rows. Safe to run twice, and from two processes at once.",
    )
    init.set_defaults(func=run_init)


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings, init=False)
    before, after = schema.init_db()
    where = db.describe_url(settings.database_url)
    if before == after:
        print(f"schema of {where} is up to date (version {after})")
    elif before == 0:
        print(f"created the seobatch tables in {where} (schema version {after})")
    else:
        print(f"upgraded {where} from schema version {before} to {after}")
    return 0
