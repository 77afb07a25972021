"""``seobatch run``: start a run (or plan one with ``--dry-run``), optionally working it here.

The run starts through ``seobatch.runs.start_run``: the recovery sweep first, then the
kickoff, as everywhere a run starts."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import ConfigError
from ..schema import open_database
from ._queue import queue

if TYPE_CHECKING:
    from ..runs import RunResult

RET_OK, RET_FAILED = 0, 1

RUN_EPILOG = """\
examples:
  seobatch run --dry-run                 pages, jobs, tokens and estimated cost; sends nothing
  seobatch run --wait                    run now, here, and show progress until it ends
  seobatch run --model gemini-2.5-flash --limit 1000 --max-cost 5
  seobatch run                           with REDIS_URL: queue it for `dramatiq actors`

Follow a queued run with `seobatch jobs` and `seobatch job ID`. Exit status 1
when a job of the run failed (with --wait) or on a configuration error."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run", help="start a run: collect the pages that need SEO, send the batches",
        description="Create the night's job(s) for a model: collect the pages that are new, "
        "changed, or failed on an earlier night, and queue the jobs for the workers. The "
        "recovery sweep runs first: jobs it finds stalled are enqueued again. Without "
        "REDIS_URL (or with --wait) the run is worked in this process, with a progress "
        "display, until it ends; the stalled jobs are worked and followed too.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.set_defaults(func=run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model to use (default SEOBATCH_MODEL)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N pages in this run")
    parser.add_argument(
        "--max-cost", type=float, metavar="USD",
        help="fail a job before sending it if its estimated cost at batch prices is above USD",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; write and send nothing")
    parser.add_argument("--wait", action="store_true", help="work the run in this process until it ends")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..runs import start_run  # lazy: fast --help
    from ..stages.kickoff import check_run  # lazy: fast --help
    from ..stages.plan import plan_run  # lazy: fast --help

    model = check_run(settings, args.model)  # one-line error before anything else
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    open_database(settings)
    if args.dry_run:
        for line in plan_run(settings=settings, model=model, limit=args.limit).lines():
            print(line)
        return RET_OK
    wait = args.wait or not settings.redis_url
    if not args.wait and wait:
        print("REDIS_URL is not set: working the run in this process", file=sys.stderr)
    done = start_run(settings, queue=queue(), model=model, limit=args.limit, max_cost=args.max_cost,
                     source="cli", wait=wait)
    return report(done)


def report(done: RunResult) -> int:
    """Print what ``start_run`` did: the jobs the sweep re-enqueued, then a line per job
    worked here (or where the queued run can be followed); the exit status."""
    if done.recovery.stalled:
        for line in done.recovery.lines():
            print(f"recover: {line}", file=sys.stderr)
    if not done.waited:
        if done.first_job_id is not None:
            print(f"job {done.first_job_id} queued ({done.model}); a worker (`dramatiq actors`) runs it — "
                  f"follow it with `seobatch job {done.first_job_id}`")
        return RET_OK
    for line in done.lines():
        print(line)
    return RET_FAILED if done.failed else RET_OK
