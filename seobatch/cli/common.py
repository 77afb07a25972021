"""Helpers the commands share: opening the database with a one-line error (``schema.open_database``), group help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..config import Settings
from ..schema import open_database

__all__ = ["group_help", "open_database"]  # open_database lives in schema.py; every command opens it so


def group_help(parser: argparse.ArgumentParser) -> Callable[..., int]:
    """For a command group run without its action (``seobatch db``): show the group's help."""

    def show(args: argparse.Namespace, settings: Settings) -> int:
        parser.print_help()
        return 2

    return show
