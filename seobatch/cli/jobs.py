"""``seobatch jobs`` (recent jobs, a table) and ``seobatch job ID`` (one job in full).

The data comes from ``seobatch.reports``; this module only lays it out. ``--json``
prints the report dicts as they are (their keys are a contract).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import reports
from ..config import Settings
from ..jobmeta import ACTIVE_STATUSES, HIGHLIGHTS, ITEM_OUTCOMES, ItemStatus, JobStatus, Reading
from ..term import (
    STATUS_STYLE,
    format_duration,
    format_int,
    format_usd,
    humanize_seconds,
    style,
    use_color,
)
from .common import open_database

RET_NOT_FOUND = 1

JOBS_EPILOG = """\
examples:
  seobatch jobs                          the 20 most recent jobs
  seobatch jobs --status failed          only failed jobs (canceled ones included)
  seobatch jobs --status canceled        only the jobs a cancel stopped
  seobatch jobs --model gemini-2.5-flash --limit 5
  seobatch jobs --json | jq '.jobs[] | select(.errored > 0) | .id'

STATUS is the job's status, except "canceled" (an operator's cancel: the job is
failed before submission, completed after) and "all-errored" (completed, but
not one item succeeded). --status takes either: a status keeps every job in it,
whatever it reads as; canceled or all-errored keeps the jobs that read so.
EXP counts items the provider let expire, CANC items that a cancel stopped.
COST is the job's cost at batch prices, recorded when its results were saved
("-" while the job runs, "unknown" when the model has no price).
AGE is the time since the job was created."""

JOB_EPILOG = """\
examples:
  seobatch job 42
  seobatch job 42 --json | jq .errors

Errored items are grouped by reason: numbers become N and quoted text
becomes …, so "title is 75 characters" and "title is 81 characters" count
as one problem. The cost is computed from the items' token counts at batch
prices, next to what the same tokens would have cost interactively."""


def register(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser(
        "jobs",
        help="recent jobs: status, counts, cost, provider batch id",
        description="List recent jobs, newest first: model, provider, status, pages, "
        "succeeded/errored/expired items, cost at batch prices, age and the provider's "
        "batch id.",
        epilog=JOBS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs.add_argument("--status", type=_status_word, choices=STATUS_WORDS,
                      help="only jobs in this status, or that read canceled or all-errored")
    jobs.add_argument("--model", metavar="M", help="only jobs of this model")
    jobs.add_argument(
        "--limit", type=_positive_int, default=reports.DEFAULT_LIMIT, metavar="N",
        help=f"show at most N jobs (default {reports.DEFAULT_LIMIT})",
    )
    jobs.add_argument("--json", action="store_true", help="print JSON for scripts")
    jobs.set_defaults(func=run_jobs)

    job = sub.add_parser(
        "job",
        help="one job in full: items, grouped errors, tokens, cost",
        description="Show everything about one job: status and timestamps, turnaround, "
        "provider and batch id, the outcome of its items, the reasons of errored items "
        "grouped with counts, token usage, the cost at batch prices next to the "
        "interactive price, the error of a failed job, its metadata and events.",
        epilog=JOB_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    job.add_argument("id", type=int, metavar="ID", help="the job id (first column of `seobatch jobs`)")
    job.add_argument("--json", action="store_true", help="print JSON for scripts")
    job.set_defaults(func=run_job)


#: ``--status`` as the STATUS column spells it (``all-errored``; ``all_errored`` is taken too).
STATUS_WORDS = tuple(s.replace("_", "-") for s in reports.STATUS_FILTERS)


def _status_word(text: str) -> str:
    return text.replace("_", "-")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# -- seobatch jobs ---------------------------------------------------------------------------


def run_jobs(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    status = args.status and args.status.replace("-", "_")
    rows = reports.list_jobs(status=status, model=args.model, limit=args.limit)
    total = reports.count_jobs(status=status, model=args.model)
    if args.json:
        _print_json({"jobs": rows, "shown": len(rows), "total": total})
        return 0
    out = sys.stdout
    color = use_color(out)
    if not rows:
        if args.status or args.model:
            print("no jobs" + "".join(filter(None, [
                args.status and f" with status {args.status}",
                args.model and f" of model {args.model}",
            ])))
        else:
            print("no jobs yet; start one with `seobatch run`")
        return 0
    print(render_table(rows, color=color))
    summary = reports.active_summary()
    active = [f"{summary[s]} {s}" for s in ACTIVE_STATUSES if summary[s]]
    footer = f"{len(rows)} of {total} job{'s' if total != 1 else ''}"
    footer += f" · active: {', '.join(active)}" if active else " · none active"
    print(style(footer, "dim", enabled=color))
    return 0


COLUMNS = (
    # header, key/renderer, right-aligned
    ("ID", lambda r: str(r["id"]), True),
    ("MODEL", lambda r: r["model"], False),
    ("PROVIDER", lambda r: r["provider"] or "-", False),
    ("STATUS", lambda r: _reading(r), False),
    ("PAGES", lambda r: format_int(r["pages"]), True),
    ("OK", lambda r: format_int(r["succeeded"]), True),
    ("ERR", lambda r: format_int(r["errored"]), True),
    ("EXP", lambda r: format_int(r["expired"]), True),
    ("CANC", lambda r: format_int(r["canceled"]), True),
    ("COST", lambda r: _cost_cell(r), True),
    ("AGE", lambda r: humanize_seconds(r["age_seconds"]), True),
    ("BATCH ID", lambda r: r["provider_batch_id"] or "-", False),
)


def _reading(row: dict[str, Any]) -> str:
    """The status as the operator should read it: ``canceled``, ``all-errored``, or the status
    (one word, so the table's columns split on spaces)."""
    return str(row["reading"]).replace("_", "-")


def _cost_cell(row: dict[str, Any]) -> str:
    if row["cost_usd"] is not None:
        return format_usd(row["cost_usd"])
    return "unknown" if row["status"] == JobStatus.COMPLETED else "-"


def render_table(rows: list[dict[str, Any]], *, color: bool = False) -> str:
    """The jobs as an aligned table; colour marks statuses and errors (padding stays exact)."""
    cells = [[render(r) for _, render, _ in COLUMNS] for r in rows]
    widths = [
        max(len(header), *(len(c[i]) for c in cells)) for i, (header, _, _) in enumerate(COLUMNS)
    ]

    def line(values: list[str], row: dict[str, Any] | None) -> str:
        out = []
        for i, (value, (header, _, right)) in enumerate(zip(values, COLUMNS, strict=True)):
            padded = value.rjust(widths[i]) if right else value.ljust(widths[i])
            if row is None:
                padded = style(padded, "bold", enabled=color)
            elif header == "STATUS":
                padded = style(padded, _status_style(row), enabled=color)
            elif header == "ERR" and row["errored"]:
                padded = style(padded, "red", enabled=color)
            elif header == "EXP" and row["expired"]:
                padded = style(padded, "yellow", enabled=color)
            out.append(padded)
        return "  ".join(out).rstrip()

    lines = [line([h for h, _, _ in COLUMNS], None)]
    lines += [line(c, r) for c, r in zip(cells, rows, strict=True)]
    return "\n".join(lines)


# -- seobatch job ID -------------------------------------------------------------------------


def run_job(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    detail = reports.job_detail(args.id, settings=settings)
    if detail is None:
        print(f"seobatch: error: no job with id {args.id} (see `seobatch jobs`)", file=sys.stderr)
        return RET_NOT_FOUND
    if args.json:
        _print_json(detail)
        return 0
    print(render_detail(detail, color=use_color(sys.stdout)))
    return 0


def _when(value: str | None) -> str:
    return "-" if value is None else value.replace("T", " ").replace("Z", " UTC")


def render_detail(d: dict[str, Any], *, color: bool = False) -> str:
    """One job as a page of text, the most useful facts first."""
    out = _header_block(d, color)
    out += _items_block(d, color)
    out += _errors_block(d, color)
    out += _quality_block(d, color)
    out += _usage_block(d, color)
    out += _metadata_block(d, color)
    out += _events_block(d, color)
    return "\n".join(out)


def _head(text: str, color: bool) -> str:
    return style(text, "bold", enabled=color)


def _status_style(row: dict[str, Any]) -> str:
    if row["reading"] == Reading.ALL_ERRORED:
        return "red"
    if row["reading"] == Reading.CANCELED:
        return "yellow"
    return STATUS_STYLE.get(row["status"], "")


def _header_block(d: dict[str, Any], color: bool) -> list[str]:
    shown = _reading(d) if d["reading"] == d["status"] else f"{_reading(d)} (status {d['status']})"
    status = style(shown, _status_style(d), "bold", enabled=color)
    out = [f"{_head('job ' + str(d['id']), color)}  {status}"]
    if d["error"]:
        out.append(style(f"  error        {d['error']}", "red", enabled=color))
    return out + [
        f"  model        {d['model']} ({d['provider'] or 'unknown provider'})",
        f"  batch id     {d['provider_batch_id'] or '- (not submitted)'}",
        f"  created      {_when(d['created_at'])} ({humanize_seconds(d['age_seconds'])} ago)",
        f"  submitted    {_when(d['submitted_at'])}",
        f"  completed    {_when(d['completed_at'])}",
        _timing(d),
        "",
    ]


#: Item outcomes in the text view's order: the outcomes first, what is left last.
ITEM_ORDER = (*ITEM_OUTCOMES, ItemStatus.FAILED, ItemStatus.PENDING)
#: The outcomes the job row counts itself (compared with the items' own counts).
COUNTED = (ItemStatus.SUCCEEDED, ItemStatus.ERRORED, ItemStatus.EXPIRED, ItemStatus.CANCELED)


def _items_block(d: dict[str, Any], color: bool) -> list[str]:
    items = d["items"]
    total = items["total"]
    out = [_head(f"items ({format_int(total)})", color)]
    shown = [s for s in ITEM_ORDER if items.get(s)]
    width = max([len(format_int(items[s])) for s in shown] or [1])
    for s in shown:
        pct = f"{100 * items[s] / total:5.1f}%" if total else ""
        label = str(s)
        if s == ItemStatus.PENDING and d["status"] == JobStatus.FAILED:
            # A job failed before items were settled with it (an older release): they never move.
            label = "not processed (the job failed)"
        out.append(f"  {label:<10} {format_int(items[s]).rjust(width)}  {pct}")
    if not shown:
        out.append("  none yet")
    counted = tuple(d[s] for s in COUNTED)
    if d["status"] == JobStatus.COMPLETED and counted != tuple(items[s] for s in COUNTED):
        out.append(style(
            f"  (the job recorded {counted[0]:,} succeeded, {counted[1]:,} errored, "
            f"{counted[2]:,} expired, {counted[3]:,} canceled)", "yellow", enabled=color))
    out.append("")
    return out


#: Error reasons shown in the text view; ``--json`` has them all.
MAX_REASONS = 15


def _errors_block(d: dict[str, Any], color: bool) -> list[str]:
    groups = d["errors"]
    if not groups:
        return []
    n = sum(g["count"] for g in groups)
    out = [_head(f"errors ({n:,} item{'s' if n != 1 else ''}, "
                 f"{len(groups)} reason{'s' if len(groups) != 1 else ''})", color)]
    cw = max(len(f"{g['count']:,}") for g in groups)
    for g in groups[:MAX_REASONS]:
        out.append(f"  {g['count']:>{cw},}  {style(g['reason'], 'red', enabled=color)}")
        if g["example"] and g["example"] != g["reason"]:
            out.append(style(f"  {'':>{cw}}  e.g. {_shorten(g['example'], 100)}", "dim",
                             enabled=color))
    if len(groups) > MAX_REASONS:
        out.append(f"  … and {len(groups) - MAX_REASONS} more reasons (see --json)")
    out.append("")
    return out


def _quality_block(d: dict[str, Any], color: bool) -> list[str]:
    """The gate's verdicts: actions, then each check and repair with its item count."""
    q = d.get("quality") or {}
    if not q.get("actions") and not any(v.get("pages") for v in (q.get("site") or {}).values()):
        return []
    actions = ", ".join(f"{n:,} {a}" for a, n in q["actions"].items())
    out = [_head(f"quality ({actions})", color)]
    for title, key in (("check", "checks"), ("repair", "repairs")):
        for name, n in q.get(key, {}).items():
            out.append(f"  {title:<7} {name:<30} {n:>8,}")
    for name, found in (q.get("site") or {}).items():
        if found.get("pages"):
            again = f", {found['regenerate']:,} sent back" if found.get("regenerate") else ""
            out.append(f"  site    {name:<30} {found['pages']:>8,} pages in {found['groups']:,} groups{again}")
    out.append("")
    return out


def _usage_block(d: dict[str, Any], color: bool) -> list[str]:
    tokens, cost = d["tokens"], d["cost"]
    out = [_head("usage", color), f"  tokens       {tokens['input']:,} in, {tokens['output']:,} out"]
    if d["status"] in ACTIVE_STATUSES and not any(tokens.values()):
        out.append("  cost         - (known once the results are saved)")
    elif cost["priced"]:
        out.append(_priced_line(cost, color))
    else:
        out.append(f"  cost         unknown: no price for {d['model']} "
                   "(add it with SEOBATCH_PRICES_FILE)")
    if _recorded_differs(cost):
        out.append(f"  recorded     {format_usd(cost['recorded_usd'])} (by the results stage)")
    return out


def _priced_line(cost: dict[str, Any], color: bool) -> str:
    line = f"  cost         {format_usd(cost['batch_usd'])} at batch prices"
    if cost["interactive_usd"]:
        pct = 100 * cost["savings_usd"] / cost["interactive_usd"]
        line += (f"; interactive would be {format_usd(cost['interactive_usd'])} "
                 + style(f"(saved {format_usd(cost['savings_usd'])}, {pct:.0f}%)", "green",
                         enabled=color))
    return line


def _recorded_differs(cost: dict[str, Any]) -> bool:
    """The results stage recorded a cost other than the one the items' tokens price at."""
    if cost["recorded_usd"] is None or not cost["priced"] or cost["batch_usd"] is None:
        return False
    return bool(abs(cost["recorded_usd"] - cost["batch_usd"]) > 1e-6)


def _metadata_block(d: dict[str, Any], color: bool) -> list[str]:
    meta = d["metadata"]
    highlights = [k for k in HIGHLIGHTS if meta.get(k) not in (None, "", 0)]
    if not highlights:
        return []
    out = ["", _head("metadata", color)]
    kw = max(len(k) for k in highlights)
    for key in highlights:
        value = meta[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append(f"  {key:<{kw}}  {_shorten(text, 100)}")
    rest = len(meta) - len(highlights)
    if rest:
        out.append(style(f"  (and {rest} more keys: seobatch job {d['id']} --json)", "dim",
                         enabled=color))
    return out


def _events_block(d: dict[str, Any], color: bool) -> list[str]:
    if not d["events"]:
        return []
    out = ["", _head("events", color)]
    for e in d["events"]:
        out.append(f"  {e['name']:<14} {_when(e['created_at'])}  {_event_state(e, color)}")
    return out


def _event_state(e: dict[str, Any], color: bool) -> str:
    """Delivered (to how many receivers), retrying, failed, or not yet: the outbox's record."""
    tries = f" after {e['attempts']} attempts" if e["attempts"] > 1 else ""
    if e["published_at"]:
        n = len(e["delivered_to"])
        return f"delivered {_when(e['published_at'])} to {n} subscriber{'s' if n != 1 else ''}{tries}"
    if e["failed_at"]:
        return style(f"failed {_when(e['failed_at'])}{tries}: {_shorten(e['last_error'] or '', 100)}",
                     "red", enabled=color)
    if e["last_error"]:
        return style(f"retry {_when(e['next_attempt_at'])} (attempt {e['attempts']} failed: "
                     f"{_shorten(e['last_error'], 80)})", "yellow", enabled=color)
    return style("not delivered yet", "yellow", enabled=color)


def _timing(d: dict[str, Any]) -> str:
    if d["turnaround_seconds"] is not None:
        end = "completed" if d["status"] == JobStatus.COMPLETED else "ended"
        return f"  turnaround   {format_duration(d['turnaround_seconds'])} (submitted → {end})"
    if d["completed_at"]:
        return f"  took         {format_duration(d['duration_seconds'])} (created → ended)"
    return f"  running for  {format_duration(d['duration_seconds'])}"


def _shorten(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")
