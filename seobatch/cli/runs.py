"""``seobatch runs`` (recent runs, a table) and ``seobatch runs ID`` (one run and its jobs).

A run is what one kickoff started: its first job and every job it split into. The data
comes from ``seobatch.reports`` (``list_runs``, ``run_detail``); this module lays it out.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import reports
from ..config import Settings
from ..term import format_duration, format_int, format_usd, use_color
from .common import open_database
from .jobs import _positive_int, _when, render_table

RET_NOT_FOUND = 1

RUNS_EPILOG = """\
examples:
  seobatch runs                          the 20 most recent runs, one line each
  seobatch runs 42                       the run job 42 belongs to, with each of its jobs
  seobatch runs --json | jq '.runs[] | select(.status != "completed")'

STATUS is "running" while a job of the run is active, "failed" when one failed,
"canceled" after a cancel, "all-errored" when no page got SEO, else "completed".
PAGES/OK/ERR/EXP/CANC and COST add up the run's jobs; COST is "unknown" when a
job's model has no price. TOOK is from the kickoff to the last job's end."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "runs",
        help="recent runs (a night as a whole): jobs, pages, outcomes, cost, duration",
        description="List recent runs, newest first. A run is what one kickoff started: a "
        "run with more pages than one batch holds is split into several jobs, and this view "
        "adds them up. With ID (any job of the run), show the run and each of its jobs.",
        epilog=RUNS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("id", type=int, nargs="?", metavar="ID", help="a job id of the run to show")
    parser.add_argument(
        "--limit", type=_positive_int, default=reports.DEFAULT_LIMIT, metavar="N",
        help=f"show at most N runs (default {reports.DEFAULT_LIMIT})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run_runs)


COLUMNS = (
    ("FIRST JOB", lambda r: str(r["first_job_id"]), True),
    ("MODEL", lambda r: r["model"], False),
    ("STATUS", lambda r: str(r["status"]).replace("_", "-"), False),
    ("JOBS", lambda r: format_int(r["job_count"]), True),
    ("PAGES", lambda r: format_int(r["pages"]), True),
    ("OK", lambda r: format_int(r["succeeded"]), True),
    ("ERR", lambda r: format_int(r["errored"]), True),
    ("EXP", lambda r: format_int(r["expired"]), True),
    ("CANC", lambda r: format_int(r["canceled"]), True),
    ("COST", lambda r: format_usd(r["cost_usd"]), True),
    ("STARTED", lambda r: _when(r["started_at"]).removesuffix(" UTC"), False),
    ("TOOK", lambda r: format_duration(r["duration_seconds"]), True),
    ("BY", lambda r: r["kicked_off_by"] or "-", False),
)


def render_runs(runs: list[dict[str, Any]]) -> str:
    cells = [[render(r) for _, render, _ in COLUMNS] for r in runs]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _, _) in enumerate(COLUMNS)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if right else v.ljust(w)
            for v, w, (_, _, right) in zip(values, widths, COLUMNS, strict=True)
        ).rstrip()

    return "\n".join([line([h for h, _, _ in COLUMNS]), *(line(c) for c in cells)])


def run_runs(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    if args.id is not None:
        return _one(args, settings)
    runs = reports.list_runs(limit=args.limit)
    if args.json:
        _print_json({"runs": runs, "shown": len(runs)})
    elif not runs:
        print("no runs yet; start one with `seobatch run`")
    else:
        print(render_runs(runs))
    return 0


def _one(args: argparse.Namespace, settings: Settings) -> int:
    run = reports.run_detail(args.id)
    if run is None:
        print(f"seobatch: error: no job with id {args.id} (see `seobatch runs`)", file=sys.stderr)
        return RET_NOT_FOUND
    if args.json:
        _print_json(run)
        return 0
    print(render_runs([run]))
    print()
    print(render_table(run["jobs"], color=use_color(sys.stdout)))
    if run["failed_jobs"]:
        print(f"failed: job {', job '.join(map(str, run['failed_jobs']))} (see `seobatch job ID`)")
    return 0


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
