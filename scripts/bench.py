#!/usr/bin/env python3
"""Benchmark the whole pipeline against the database's own speed.

    python scripts/bench.py [--pages N] [--database-url URL] [--provider anthropic|gemini] [--json]

Seeds N synthetic pages into a schema of its own, starts the emulator (batches end at
once) in its own process, runs kickoff → collect → submit → poll → results through the
same stage functions ``seobatch run`` uses, each stage in a fresh process, and prints
per stage: seconds, items/s, statements sent, peak RSS, and the ratio to the floor —
the same database work done the fastest way (COPY, one UPDATE … FROM (VALUES …) per
chunk) measured right after each stage. Drops its schema at the end. Exit status 1
when a target is missed (end to end above 2x the floor, a process above 250 MB, or a
page left without SEO).

Columns: seconds of the stage's work (imports excluded); items/s; statements the stage
sent (q/chunk: per chunk of SEOBATCH_CHUNK_SIZE pages — flat in N); peak RSS of the
stage's process; its CPU seconds (imports included); the emulator's peak RSS and CPU
during the stage (its own process); the floor's seconds and the stage's ratio to it.
--profile collect,results writes a pyinstrument report per stage (pip install pyinstrument).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# ``bench`` is the folder next to this file (scripts/bench/), importable as this script's own directory.
from bench.harness import DEFAULT_PG_URL, MODELS, BenchError, format_report, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000, help="pages to seed and run (default %(default)s)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL,
        help="postgresql://… (a schema of the benchmark's own is created and dropped) or sqlite:///… "
        "(a scratch file is used); default TEST_DATABASE_URL or %(default)s",
    )
    parser.add_argument("--provider", choices=sorted(MODELS), default="anthropic")
    parser.add_argument("--chunk-size", type=int, help="SEOBATCH_CHUNK_SIZE for the run (default: the setting's)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per stage")
    parser.add_argument("--profile", metavar="STAGE[,STAGE…]",
                        help="profile these stages with pyinstrument (writes bench-profile-STAGE.txt)")
    parser.add_argument("--no-quality", action="store_true",
                        help="run without the quality gate (SEOBATCH_QUALITY_GATE=false): its cost by comparison")
    parser.add_argument("--no-revisions", action="store_true",
                        help="results write the pages alone, as before revisions (scripts/bench/no_revisions.py): "
                        "what keeping a revision of every reply costs, by comparison")
    parser.add_argument("--no-site-stage", action="store_true",
                        help="results without the site-wide checks after the last chunk (the same with or "
                        "without revisions)")
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON line")
    args = parser.parse_args(argv)
    try:
        result = run_bench(pages=args.pages, database_url=args.database_url, provider=args.provider,
                           chunk_size=args.chunk_size, timeout=args.timeout,
                           profile=args.profile, quality=not args.no_quality,
                           revisions=not args.no_revisions, site_stage=not args.no_site_stage)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_report(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
