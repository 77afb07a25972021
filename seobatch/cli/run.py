"""``seobatch run``: start a run (or plan one with ``--dry-run``), optionally working it here."""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..term import format_usd
from .common import open_database

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
        "changed, or failed on an earlier night, and queue the jobs for the workers. Without "
        "REDIS_URL (or with --wait) the run is worked in this process, with a progress "
        "display, until it ends; jobs the recovery sweep finds stalled are worked and "
        "followed too.",
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
    from ..stages.kickoff import check_run, kickoff

    model = check_run(settings, args.model)  # one-line error before anything else
    if args.limit is not None and args.limit < 1:
        from ..errors import ConfigError

        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    open_database(settings)
    if args.dry_run:
        from ..stages.plan import plan_run

        for line in plan_run(settings=settings, model=model, limit=args.limit).lines():
            print(line)
        return RET_OK
    wait = args.wait or not settings.redis_url
    if not args.wait and wait:
        print("REDIS_URL is not set: working the run in this process", file=sys.stderr)
    import actors  # noqa: F401  (the broker, before a job exists: a broken set-up leaves no job)

    if not wait:
        actors.broker.check_reachable(settings)

    def start() -> tuple[int, list]:
        started = kickoff(settings=settings, model=model, limit=args.limit, max_cost=args.max_cost,
                          source="cli")
        return started.job.id, started.steps

    if not wait:
        from actors import send_steps

        job_id, steps = start()
        send_steps(steps)
        print(f"job {job_id} queued ({model}); a worker (`dramatiq actors`) runs it — "
              f"follow it with `seobatch job {job_id}`")
        return RET_OK
    return work_and_report([], settings, None, swept=sweep(settings), start=start)


def sweep(settings: Settings) -> list:
    """The recovery sweep before working here: the stalled jobs' steps (worked here too)."""
    from ..stages.recover import recover

    found = recover(settings=settings)
    if found.stalled:
        for line in found.lines():
            print(f"recover: {line}", file=sys.stderr)
    return found.steps


def work_and_report(steps, settings: Settings, first_job_id: int | None, *, swept=(), start=None) -> int:
    """Work the run here with a progress display; a line per job at the end.

    ``swept``: the recovery sweep's steps, worked and followed too; ``start``: starts the
    run once no swept job is collecting (see ``actors.inprocess.work``).
    """
    from actors.inprocess import work

    try:
        final = work(steps, settings, first_job_id=first_job_id, swept=swept, start=start)
    except KeyboardInterrupt:
        print("interrupted: the jobs stay in the database; `seobatch recover` with a worker "
              "running (or the next `seobatch run --wait`) picks them up", file=sys.stderr)
        raise
    failed = False
    for snap in final:
        if snap.stage == "completed":
            cost = _cost_of(snap.job_id)
            print(f"job {snap.job_id} completed: {snap.succeeded} succeeded, {snap.errored} errored, "
                  f"{snap.expired} expired; cost {cost}")
        else:
            failed = True
            print(f"job {snap.job_id} {snap.stage}" + (f": {snap.error}" if snap.error else ""))
    if not final and start is not None and not swept:
        return RET_OK  # nothing was started (the caller said why) and nothing was stalled
    return RET_FAILED if failed or not final else RET_OK


def _cost_of(job_id: int) -> str:
    from ..models import SeoBatchJob

    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    cost = (job.metadata or {}).get("cost_usd") if job else None
    return format_usd(cost) if isinstance(cost, (int, float)) else "unknown"
