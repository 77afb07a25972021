"""``seobatch recover`` and ``seobatch cancel ID``: an operator's hands on running jobs."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..schema import open_database
from ._queue import queue


def register(sub: argparse._SubParsersAction) -> None:
    recover = sub.add_parser(
        "recover", help="say what each active job waits on; re-enqueue the stalled ones",
        description="For every active job, print what it waits on and why recovery acts or "
        "waits; enqueue the stage again of each job whose worker's claim ran out (a killed "
        "worker), whose poll is overdue, or that no worker ever started (lost message, Redis "
        "restarted); deliver events that were never delivered. Safe to run at any time: a "
        "job a live worker holds is left alone, and a submitting job is checked against the "
        "provider's batches before anything is sent again.",
        epilog="""\
examples:
  seobatch recover        prints one line per active job, e.g.
    job 7: processing, results saved by a live worker (web-1:4121) 4 s ago, claim until 02:14:09 UTC → left alone
    job 8: processing, results claim of web-1:4121 expired 95 s ago → results enqueued again
    job 9: processing, next poll due in 40 s → left alone

A worker renews its claim on a job with each chunk it commits (submit: a heartbeat);
the claim runs out SEOBATCH_CLAIM_TTL seconds (default 45) after its last renewal. A
job no worker has claimed is re-enqueued after SEOBATCH_STALE_AFTER (default 600)
without change. Workers sweep when they boot; the clock every SEOBATCH_RECOVER_INTERVAL
seconds (default 60); with cron, run this every minute.""",
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
