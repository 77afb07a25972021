"""Helpers the commands share: opening the database with a one-line error, group help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import peewee

from .. import db, schema
from ..config import Settings
from ..errors import ConfigError


def group_help(parser: argparse.ArgumentParser) -> Callable[..., int]:
    """For a command group run without its action (``seobatch db``): show the group's help."""

    def show(args: argparse.Namespace, settings: Settings) -> int:
        parser.print_help()
        return 2

    return show


def open_database(settings: Settings, *, init: bool = True) -> peewee.Database:
    """Configure and connect to DATABASE_URL; with ``init``, make sure the tables exist."""
    database = db.configure(settings.database_url)
    try:
        database.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to the database at {db.describe_url(settings.database_url)}: {first}"
        ) from None
    if init and schema.current_version() < schema.SCHEMA_VERSION:
        schema.init_db()
    return database
