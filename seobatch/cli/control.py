"""``seobatch recover`` and ``seobatch cancel ID``: an operator's hands on running jobs."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..schema import open_database
from ._queue import queue


def register(sub: argparse._SubParsersAction) -> None:
    recover = sub.add_parser(
        "recover", help="re-enqueue stalled jobs",
        description="Find jobs that sit in an active state without progress (lost message, "
        "Redis restarted, worker killed) and enqueue their stage again; deliver events "
        "that were never delivered. Safe to run at any time: a submitting job is checked "
        "against the provider's batches before anything is sent again.",
        epilog="""\
examples:
  seobatch recover        prints e.g. "job 12: submitting, idle 25m → submit enqueued again"
                          or "nothing to recover"

A job counts as stalled after SEOBATCH_STALE_AFTER seconds (default 600) without
progress; processing jobs get SEOBATCH_POLL_MAX_INTERVAL on top. The clock runs
this every SEOBATCH_RECOVER_INTERVAL seconds; with cron, run it every few minutes.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    recover.set_defaults(func=run_recover)
    cancel = sub.add_parser(
        "cancel", help="cancel a job and its provider batch",
        description="Cancel job ID. Before submission the job is marked failed; once "
        "submitted, its provider batch is canceled and the job ends with what finished "
        "before the cancel (those pages keep their new SEO; the others are tried again on "
        "a later run).",
        epilog="examples:\n  seobatch jobs --status processing    find the job\n"
        "  seobatch cancel 12",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cancel.add_argument("job_id", type=int, metavar="ID", help="the job id (see `seobatch jobs`)")
    cancel.set_defaults(func=run_cancel)


def run_recover(args: argparse.Namespace, settings: Settings) -> int:
    from ..stages.recover import recover  # lazy: fast --help

    open_database(settings)
    if settings.redis_url:
        queue().check_reachable(settings)
    found = recover(settings=settings)
    if found.steps:
        queue().send(found.steps)
    for line in found.lines():
        print(line)
    if found.steps and not settings.redis_url:
        print("note: REDIS_URL is not set, so nothing outside this process will work these "
              "messages; run `seobatch run --wait` or set REDIS_URL and start a worker")
    return 0


def run_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from ..stages.cancel import cancel  # lazy: fast --help

    open_database(settings)
    done = cancel(args.job_id, settings=settings)
    if done.steps and settings.redis_url:
        queue().send(done.steps)
    print(done.message)
    return 0
