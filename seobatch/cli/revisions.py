"""``seobatch review``, ``seobatch diff``, ``seobatch rollback``: the trail of the pages' SEO."""

from __future__ import annotations

import argparse
import csv
import getpass
import sys
from collections.abc import Iterable
from typing import IO, Any

from .. import revisions
from ..config import Settings
from ..errors import InputError
from ..pages import spreadsheet_safe
from ..schema import open_database

#: Characters of a title or description shown per column in a terminal table.
CELL = 60


def register(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser(
        "review", help="list proposed revisions; approve or reject them",
        description="List the revisions waiting for review (SEOBATCH_PUBLISH=flagged|review, "
        "or over SEOBATCH_MAX_CHANGES), the page's live value next to the proposal with both "
        "pixel widths when known; approve (publish) or reject them by id, by filter or all. "
        "Each decision records who (--by, default the OS user) and when.",
        epilog="""\
examples:
  seobatch review                               the first 50 proposals
  seobatch review --job 12 --language fr        filtered
  seobatch review --approve 101 102 --by maria  publish two
  seobatch review --job 12 --reject             reject everything job 12 proposed
  seobatch review --all --approve               publish every proposal""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(review)
    review.add_argument("--check", help="proposals the quality gate found this check on")
    review.add_argument("--language", help="pages whose language attribute is this (e.g. fr)")
    review.add_argument("--host", help="pages of this host (e.g. shop.example.com)")
    review.add_argument("--flagged", action="store_true", help="only proposals the gate flagged")
    action = review.add_mutually_exclusive_group()
    action.add_argument("--approve", nargs="*", type=int, metavar="ID",
                        help="publish these revisions, or (no ids) every one the filters match")
    action.add_argument("--reject", nargs="*", type=int, metavar="ID",
                        help="reject these revisions, or (no ids) every one the filters match")
    review.add_argument("--all", action="store_true",
                        help="with --approve/--reject and no filter: every proposal")
    review.add_argument("--by", help="who decides (default: the OS user)")
    review.add_argument("--after", type=int, default=0, metavar="ID", help="list after this revision id")
    review.add_argument("--limit", type=int, default=50, help="how many to list (default 50)")
    review.set_defaults(func=run_review)

    diff = sub.add_parser(
        "diff", help="what a job or a run changed, old -> new",
        description="Every revision a job (or the jobs of a run) made: its state, the value "
        "it replaced and the new one. A table, or CSV with --csv.",
        epilog="examples:\n  seobatch diff --job 12\n  seobatch diff --run 3fa2b9c1 --csv > night.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(diff)
    diff.add_argument("--csv", action="store_true", help="CSV on standard output")
    diff.set_defaults(func=run_diff)

    rollback = sub.add_parser(
        "rollback", help="put back what a job or a run published",
        description="Every page whose published revision came from the job (or the run's "
        "jobs) goes back to the revision it replaced, or to its original. Idempotent; safe "
        "while another job's results are saved. --dry-run shows what it would restore.",
        epilog="examples:\n  seobatch rollback --job 12 --dry-run\n  seobatch rollback --job 12 --by maria",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(rollback)
    rollback.add_argument("--dry-run", action="store_true", help="show what would be restored; change nothing")
    rollback.add_argument("--by", help="who rolls back (default: the OS user)")
    rollback.set_defaults(func=run_rollback)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", type=int, metavar="N", help="the job's revisions")
    parser.add_argument("--run", metavar="R", help="the revisions of the run's jobs (see `seobatch job N`)")


def _who(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def run_review(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    ids = args.approve if args.approve else (args.reject or [])
    flt = revisions.Filter(ids=tuple(ids), job=args.job, run=args.run, check=args.check,
                           language=args.language, host=args.host, flagged=True if args.flagged else None)
    deciding = args.approve is not None or args.reject is not None
    if deciding:
        if flt == revisions.Filter() and not args.all:
            raise InputError("name revision ids, a filter (--job, --check, …) or --all to decide on")
        if args.approve is not None:
            decision = revisions.approve(flt, by=_who(args), chunk_size=settings.chunk_size)
        else:
            decision = revisions.reject(flt, by=_who(args))
        print(decision.describe())
        return 0
    rows = revisions.list_proposed(flt, after_id=args.after, limit=args.limit)
    total = revisions.count_proposed(flt)
    if not rows:
        print(f"no proposed revision matches {flt.describe()}")
        return 0
    for p in rows:
        marks = " ".join(x for x in (p.reason and f"[{p.reason}]", p.flagged and "[flagged]") if x)
        print(f"#{p.id}  {p.url}  job {p.job_id or '-'}  {marks}".rstrip())
        print(f"  title  {_cell(p.old_title)} {_px(p.old_title_px)}")
        print(f"      -> {_cell(p.title)} {_px(p.title_px)}")
        print(f"  descr  {_cell(p.old_description)} {_px(p.old_description_px)}")
        print(f"      -> {_cell(p.description)} {_px(p.description_px)}")
        if p.checks:
            print("  checks " + ", ".join(str(c.get("name", c)) for c in p.checks))
    shown = f"{len(rows)} of {total}"
    more = f"; next page: --after {rows[-1].id}" if total > len(rows) else ""
    print(f"{shown} proposed{more}")
    return 0


def _cell(text: str | None, width: int = CELL) -> str:
    if text is None:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def _px(value: float | None) -> str:
    return f"({value:.0f} px)" if value is not None else ""


def run_diff(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    jobs = revisions.resolve_jobs(job=args.job, run=args.run)
    changes = revisions.diff(jobs, chunk_size=settings.chunk_size)
    if args.csv:
        count = _write_csv(sys.stdout, changes)
    else:
        count = 0
        for c in changes:
            count += 1
            why = f" [{c.reason}]" if c.reason else ""
            print(f"#{c.revision_id}  {c.state}{why}  {c.url}")
            print(f"  title  {_cell(c.old_title)}\n      -> {_cell(c.title)}")
            print(f"  descr  {_cell(c.old_description)}\n      -> {_cell(c.description)}")
        print(f"{count} revision{'s' if count != 1 else ''} from job{'s' if len(jobs) > 1 else ''} "
              f"{', '.join(map(str, jobs))}")
    return 0


def _write_csv(out: IO[str], changes: Iterable[revisions.Change]) -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(revisions.Change.FIELDS)
    count = 0
    for change in changes:
        values: list[Any] = [getattr(change, name) for name in revisions.Change.FIELDS]
        writer.writerow(["" if v is None else spreadsheet_safe(str(v)) for v in values])
        count += 1
    return count


def run_rollback(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    jobs = revisions.resolve_jobs(job=args.job, run=args.run)
    plan = revisions.rollback(jobs, by=_who(args), dry_run=args.dry_run, chunk_size=settings.chunk_size)
    print(plan.describe(done=not args.dry_run))
    for example in plan.examples:
        print(f"  {example['url']}\n    {_cell(example['live'])}\n    -> {_cell(example['restored'])} "
              f"({example['restored_source']})")
    if plan.pages > len(plan.examples):
        print(f"  … and {plan.pages - len(plan.examples)} more")
    if args.dry_run:
        print("dry run: nothing was changed")
    return 0
