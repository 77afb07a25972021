"""``seobatch audit``: the site's titles and descriptions judged like an SEO auditor does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import Settings
from ..errors import InputError
from .common import open_database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "audit", help="issues overview of the titles and descriptions (checks, counts, worst pages)",
        description="Judge every page's title and description with the quality gate and the site "
        "checks (duplicates, templates): each check with its severity, the number and share of "
        "pages, and the worst examples. Default: the values seobatch published.",
        epilog="examples:\n"
        "  seobatch audit --live                 the pages' own titles, before the first run\n"
        "  seobatch audit --job 12               what job 12 generated (rejected replies too)\n"
        "  seobatch audit --csv issues.csv       one row per page and check\n"
        "  seobatch audit --json | jq '.checks[] | select(.count > 0)'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--job", type=int, metavar="N", help="the values job N generated")
    which.add_argument("--live", action="store_true",
                       help="the pages' own imported titles (and their description attribute)")
    parser.add_argument("--csv", metavar="FILE", help="write one row per page and check to FILE")
    parser.add_argument("--json", action="store_true",
                        help='print {"checks": [{"check", "severity", "count", "urls"}, …]}')
    parser.add_argument("--examples", type=int, default=10, metavar="N",
                        help="worst pages kept per check (default %(default)s)")
    parser.set_defaults(func=run_audit_command)


def run_audit_command(args: argparse.Namespace, settings: Settings) -> int:
    from ..audit import render, run_audit  # lazy: fast --help

    open_database(settings)
    source = "job" if args.job is not None else "live" if args.live else "published"
    if args.job is not None:
        from ..models import SeoBatchJob  # lazy: fast --help

        if SeoBatchJob.get_or_none(SeoBatchJob.id == args.job) is None:
            raise InputError(f"no job with id {args.job} (see `seobatch jobs`)")
    out = None
    try:
        if args.csv:
            try:
                out = Path(args.csv).open("w", encoding="utf-8", newline="")
            except OSError as exc:
                raise InputError(f"cannot write {args.csv}: {exc.strerror or exc}") from None
        report = run_audit(source=source, job=args.job, profile=settings.quality, examples=max(1, args.examples),
                           csv_file=out, chunk_size=settings.chunk_size)
    finally:
        if out is not None:
            out.close()
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render(report))
    return 0
