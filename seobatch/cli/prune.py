"""``seobatch prune [--dry-run]``: clear old finished jobs' request bodies and replies."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..prune import prune
from ..schema import open_database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "prune", help="clear old jobs' request bodies and replies (retention)",
        description="Clear the request bodies and saved replies of the items of jobs that "
        "finished more than SEOBATCH_RETENTION_DAYS days ago (default 30). Jobs, their "
        "counts, costs and metadata, every item's status, tokens and error, the pages' SEO "
        "and the events stay. Works in small transactions; safe to run at any time and "
        "twice. The clock runs it after each nightly kickoff.",
        epilog="examples:\n  seobatch prune --dry-run      what would be cleared\n"
        "  SEOBATCH_RETENTION_DAYS=7 seobatch prune",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would be cleared; change nothing")
    parser.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    print(prune(settings, dry_run=args.dry_run).describe())
    return 0
