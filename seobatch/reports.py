"""What the operator views show, as plain data: the CLI renders it, metrics and the demo reuse it.

``list_jobs()`` gives the rows of ``seobatch jobs``; ``job_detail()`` everything about one
job for ``seobatch job ID``. Both return JSON-ready dicts whose keys are a contract
(``--json`` prints them as they are): add keys, never rename or drop one.

Every figure comes from a fixed number of grouped queries, never one query per item,
so a job of 100,000 pages reports as fast as a job of ten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from peewee import fn

from . import db as _db
from . import jobmeta as jm
from . import pricing
from .config import Settings
from .db import database, iso, utcnow
from .jobmeta import (
    ACTIVE_STATUSES,
    ITEM_STATUSES,
    STATUSES,
    ItemStatus,
    JobStatus,
    Reading,
)
from .models import SeoBatchEvent, SeoBatchItem, SeoBatchJob

DEFAULT_LIMIT = 20
#: What ``list_jobs(status=…)`` takes: a job status, or the reading of an ended job.
STATUS_FILTERS = (*STATUSES, Reading.CANCELED, Reading.ALL_ERRORED)
#: Reasons longer than this are grouped by their beginning (bounds the rows read).
REASON_PREFIX_CHARS = 160
#: Metadata keys shown in their own place, not among the "highlights".
_SHOWN_ELSEWHERE = frozenset({jm.ERROR, jm.COST_USD, jm.PROVIDER, jm.SITE_CHECKS})

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def normalize_reason(reason: str | None) -> str:
    """The group an error reason belongs to: quoted text → ``…``, numbers → ``N``.

    ``invalid_output: title is 75 characters, needs 10-70`` and ``… is 81 characters …``
    are the same problem; ``not JSON: 'Sure! Here is…'`` differs only in the quote.
    """
    if not reason or not reason.strip():
        return "(no reason recorded)"
    text = " ".join(reason.split())
    text = _QUOTED.sub("…", text)
    text = _NUMBER.sub("N", text)
    return text[:120]


# -- the list ------------------------------------------------------------------------------


def list_jobs(
    *,
    status: str | None = None,
    model: str | None = None,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The most recent jobs first, optionally only one status and/or model.

    Returns:
        One dict per job: ``id model provider status reading pages succeeded errored
        expired canceled cost_usd created_at submitted_at completed_at age_seconds
        provider_batch_id error``. ``reading`` is the status, or ``canceled`` /
        ``all_errored`` (``jobmeta.reading``); ``expired`` no longer counts canceled items.
        ``cost_usd`` is what the results stage recorded at batch prices (None: not known
        yet, or the model has no price).
    """
    now = now or utcnow()
    query = SeoBatchJob.select().order_by(SeoBatchJob.id.desc()).limit(limit)
    if status:
        query = query.where(status_is(status))
    if model:
        query = query.where(SeoBatchJob.model == model)
    jobs = list(query)
    # Before submission total_pages is still 0: count the collected items, one query.
    collected = _item_totals(j.id for j in jobs if j.status in ACTIVE_STATUSES and not j.total_pages)
    rows = [_row(job, now, collected.get(job.id)) for job in jobs]
    _live_counts(rows)
    return rows


def _live_counts(rows: list[dict[str, Any]]) -> None:
    """A processing job's row counts are written when it completes; while its results are
    being saved, take them from its items instead (one grouped query for all such jobs)."""
    live = [r for r in rows if r["status"] == JobStatus.PROCESSING]
    if not live:
        return
    counts = SeoBatchItem.counts_by_job(r["id"] for r in live)
    for row in live:
        per = counts.get(row["id"], {})
        for key, status in (("succeeded", ItemStatus.SUCCEEDED), ("errored", ItemStatus.ERRORED),
                            ("expired", ItemStatus.EXPIRED), ("canceled", ItemStatus.CANCELED)):
            row[key] = per.get(status, (0, 0, 0))[0]


def count_jobs(*, status: str | None = None, model: str | None = None) -> int:
    query = SeoBatchJob.select()
    if status:
        query = query.where(status_is(status))
    if model:
        query = query.where(SeoBatchJob.model == model)
    return query.count()


def status_is(status: str) -> Any:
    """SQL: the jobs that ``status`` (one of ``STATUS_FILTERS``) names.

    A job status matches the jobs stored in it, whatever they read as (``failed`` includes
    the jobs canceled before submission); a reading matches what ``jobmeta.reading`` says.
    """
    job = SeoBatchJob
    cancel_requested = _db.json_text(job.metadata, jm.CANCEL_REQUESTED)
    cancel_seen = cancel_requested.is_null(False) & (cancel_requested != "")
    if status == Reading.CANCELED:
        error = _db.json_text(job.metadata, jm.ERROR)
        canceled_early = fn.SUBSTR(error, 1, len(jm.CANCELED_REASON)) == jm.CANCELED_REASON
        return ((job.status == JobStatus.FAILED) & canceled_early) | ((job.status == JobStatus.COMPLETED) & cancel_seen)
    if status == Reading.ALL_ERRORED:
        return ((job.status == JobStatus.COMPLETED) & ~cancel_seen
                & (fn.COALESCE(job.succeeded_count, 0) == 0) & (job.errored_count > 0))
    if status not in STATUSES:
        raise ValueError(f"unknown job status or reading {status!r}")
    return job.status == status


def _item_totals(job_ids: Iterable[int]) -> dict[int, int]:
    ids = list(job_ids)
    if not ids:
        return {}
    rows = (
        SeoBatchItem.select(SeoBatchItem.job, fn.COUNT(SeoBatchItem.id))
        .where(SeoBatchItem.job.in_(ids))
        .group_by(SeoBatchItem.job)
    )
    return {job_id: n for job_id, n in _tuples(rows)}


def _row(job: SeoBatchJob, now: datetime, collected: int | None) -> dict[str, Any]:
    meta = job.metadata or {}
    # The row's expired_count includes the canceled items; report each apart.
    canceled = int(meta.get(jm.CANCELED_COUNT) or 0)
    return {
        "id": job.id,
        "model": job.model,
        "provider": job.provider,
        "status": job.status,
        "reading": jm.reading(job.status, meta, job.succeeded_count, job.errored_count),
        "pages": job.total_pages or collected or 0,
        "succeeded": job.succeeded_count or 0,
        "errored": job.errored_count or 0,
        "expired": (job.expired_count or 0) - canceled,
        "canceled": canceled,
        "cost_usd": _number(meta.get(jm.COST_USD)),
        "created_at": iso(job.created_at),
        "submitted_at": iso(job.submitted_at),
        "completed_at": iso(job.completed_at),
        "age_seconds": seconds_between(job.created_at, now),
        "provider_batch_id": job.ai_batch_id,
        "error": meta.get(jm.ERROR),
    }


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


# -- one job -------------------------------------------------------------------------------


def job_detail(
    job_id: int, *, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, Any] | None:
    """Everything about one job, or None when there is no such job.

    Returns:
        The ``list_jobs`` row plus ``updated_at``, ``turnaround_seconds`` (submitted →
        completed), ``duration_seconds`` (created → completed, or now), ``items``
        (count per item status and ``total``), ``errors`` (errored items grouped by
        ``normalize_reason``: ``reason``, ``count``, ``example``, most frequent first),
        ``tokens`` (``input``, ``output``: sums over the items), ``cost`` (``batch_usd``
        and ``interactive_usd`` for those tokens, ``savings_usd``, ``recorded_usd`` from
        the job, ``priced``), ``metadata`` (the other keys of the job's metadata) and
        ``events`` (the lifecycle events: when they were delivered and to which
        receivers, or their attempts, last error, next attempt, failure).
    """
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    if job is None:
        return None
    now = now or utcnow()
    detail = _row(job, now, None)
    _live_counts([detail])
    items, tokens = _item_breakdown(job.id)
    if not detail["pages"]:
        detail["pages"] = items["total"]
    meta = job.metadata or {}
    detail.update(
        updated_at=iso(job.updated_at),
        turnaround_seconds=seconds_between(job.submitted_at, job.completed_at),
        duration_seconds=seconds_between(job.created_at, job.completed_at or now),
        items=items,
        errors=error_groups(job.id),
        quality=quality_summary(job.id),
        tokens=tokens,
        cost=_costs(job.model, tokens, meta, settings),
        metadata={k: v for k, v in sorted(meta.items()) if k not in _SHOWN_ELSEWHERE},
        events=[
            {"name": e.name, "created_at": iso(e.created_at), "published_at": iso(e.published_at),
             "attempts": e.attempts, "delivered_to": e.delivered_to or [],
             "last_error": e.last_error, "next_attempt_at": iso(e.next_attempt_at),
             "failed_at": iso(e.failed_at)}
            for e in SeoBatchEvent.select().where(SeoBatchEvent.job == job.id).order_by(SeoBatchEvent.id)
        ],
    )
    return detail


def _item_breakdown(job_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Items per status and token sums: one GROUP BY over the job's items."""
    items: dict[str, int] = dict.fromkeys(ITEM_STATUSES, 0)
    tokens = {"input": 0, "output": 0}
    for status, (count, tokens_in, tokens_out) in SeoBatchItem.counts_for(job_id).items():
        items[status] = items.get(status, 0) + count
        tokens["input"] += tokens_in
        tokens["output"] += tokens_out
    items["total"] = sum(items.values())
    return items, tokens


#: (PostgreSQL, SQLite): how a verdict's array elements and fields are read.
_JSON = {
    True: ("jsonb_array_elements(i.verdict->'{key}') f", "f.value->>'name'", "i.verdict->>'action'"),
    False: ("json_each(i.verdict, '$.{key}') f", "json_extract(f.value, '$.name')",
            "json_extract(i.verdict, '$.action')"),
}
#: postgres? → the query of actions, and per key (checks, repairs) the query of names;
#: one count per item and name, however many times it fired on the item. ``%s``: the job id.
_QUALITY_SQL = {
    pg: (
        f"SELECT {action}, count(*) FROM seo_batch_items i WHERE i.job_id = %s AND i.verdict IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        {key: f"SELECT n, count(*) FROM (SELECT DISTINCT i.id, {name} AS n FROM seo_batch_items i, "
              f"{each.format(key=key)} WHERE i.job_id = %s AND i.verdict IS NOT NULL) x GROUP BY n ORDER BY 2 DESC, 1"
         for key in ("checks", "repairs")},
    )
    for pg, (each, name, action) in _JSON.items()
}


def quality_summary(job_id: int) -> dict[str, Any]:
    """The quality gate's verdicts on a job's items, grouped: ``actions`` (publish, flag,
    reject → items), ``checks`` and ``repairs`` (name → items; most frequent first), and
    ``site`` (the site stage's findings). Counted by the database, one query each."""
    actions, names = _QUALITY_SQL[_db.is_postgres()]
    mark = database.param
    out: dict[str, Any] = {"actions": dict(database.execute_sql(actions.replace("%s", mark), (job_id,)).fetchall())}
    for key, query in names.items():
        out[key] = dict(database.execute_sql(query.replace("%s", mark), (job_id,)).fetchall())
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    out["site"] = ((job.metadata or {}).get(jm.SITE_CHECKS) if job is not None else None) or {}
    return out


def error_groups(job_id: int, *, status: str = ItemStatus.ERRORED) -> list[dict[str, Any]]:
    """The reasons of a job's ``status`` items, grouped by ``normalize_reason``.

    The database groups identical reasons (by their first ``REASON_PREFIX_CHARS``
    characters); Python merges the groups that differ only in numbers or quotes.
    """
    head = fn.SUBSTR(SeoBatchItem.error, 1, REASON_PREFIX_CHARS)
    rows = (
        SeoBatchItem.select(head.alias("reason"), fn.COUNT(SeoBatchItem.id))
        .where((SeoBatchItem.job == job_id) & (SeoBatchItem.status == status))
        .group_by(head)
        .order_by(head)  # the example is the group's first reason: the same one on every database
        .tuples()
    )
    groups: dict[str, dict[str, Any]] = {}
    for reason, count in rows.iterator():
        key = normalize_reason(reason)
        group = groups.setdefault(key, {"reason": key, "count": 0, "example": reason})
        group["count"] += count
    return sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))


def _costs(
    model: str, tokens: dict[str, int], meta: dict[str, Any], settings: Settings | None
) -> dict[str, Any]:
    batch = pricing.batch_cost(model, tokens["input"], tokens["output"], settings)
    interactive = pricing.interactive_cost(model, tokens["input"], tokens["output"], settings)
    savings = None if batch is None or interactive is None else round(interactive - batch, 6)
    return {
        "batch_usd": batch,
        "interactive_usd": interactive,
        "savings_usd": savings,
        "recorded_usd": _number(meta.get(jm.COST_USD)),
        "priced": batch is not None,
    }


# -- runs: a night as a whole ---------------------------------------------------------------

#: Jobs read per step while looking for the most recent runs' first jobs.
_RUN_SCAN_CHUNK = 500


def list_runs(*, limit: int = DEFAULT_LIMIT, now: datetime | None = None) -> list[dict[str, Any]]:
    """The most recent runs first: each run's jobs (the first and every job it split
    into, ``runs.run_chains``) added up.

    Returns:
        One dict per run (``run_summary``), without the per-job rows.
    """
    firsts: list[int] = []
    before: int | None = None
    while len(firsts) < limit:
        query = SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.metadata).order_by(SeoBatchJob.id.desc())
        if before is not None:
            query = query.where(SeoBatchJob.id < before)
        rows = list(_tuples(query.limit(_RUN_SCAN_CHUNK)))
        for job_id, meta in rows:
            if not (meta or {}).get(jm.PREVIOUS_JOB_ID):
                firsts.append(job_id)
                if len(firsts) == limit:
                    break
        if len(rows) < _RUN_SCAN_CHUNK:
            break
        before = rows[-1][0]
    return [{k: v for k, v in run.items() if k != "jobs"} for run in _runs(firsts, now or utcnow())]


def run_detail(job_id: int, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The run that job ``job_id`` belongs to (any of its jobs), with a row per job; None
    when there is no such job."""
    first = _first_of_run(job_id)
    if first is None:
        return None
    runs = _runs([first], now or utcnow())
    return runs[0] if runs else None


def _first_of_run(job_id: int) -> int | None:
    """Follow ``previous_job_id`` back to the run's first job (a split run's few jobs)."""
    seen: set[int] = set()
    current: int | None = job_id
    while current is not None and current not in seen:
        row = SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.metadata).where(SeoBatchJob.id == current).first()
        if row is None:
            return None if not seen else max(seen)
        seen.add(current)
        previous = (row.metadata or {}).get(jm.PREVIOUS_JOB_ID)
        if not previous:
            return current
        current = int(previous)
    return current


def _runs(firsts: list[int], now: datetime) -> list[dict[str, Any]]:
    """``run_summary`` of each run starting at ``firsts`` (newest first): two queries."""
    from .runs import run_chains  # start-up cost: runs imports every stage

    ids = run_chains(firsts)
    jobs = {job.id: job for job in SeoBatchJob.select().where(SeoBatchJob.id.in_(ids))} if ids else {}
    out = []
    for first in sorted(firsts, reverse=True):
        chain: list[SeoBatchJob] = []
        job_id: int | None = first
        while job_id is not None and job_id in jobs and len(chain) < len(jobs):
            chain.append(jobs[job_id])
            nxt = (jobs[job_id].metadata or {}).get(jm.NEXT_JOB_ID)
            job_id = int(nxt) if nxt else None
        if chain:
            out.append(run_summary([_row(j, now, None) for j in chain], chain, now))
    return out


def run_summary(rows: list[dict[str, Any]], jobs: list[SeoBatchJob], now: datetime) -> dict[str, Any]:
    """One run: ``run first_job_id model kicked_off_by status jobs pages succeeded errored
    expired canceled cost_usd started_at ended_at duration_seconds failed_jobs``, and
    ``jobs`` (the ``list_jobs`` rows, in run order). ``status`` is ``running`` while a
    job is active, else ``failed`` when a job failed (not canceled), else the first
    job's reading (``completed``, ``canceled``, ``all_errored``). ``cost_usd`` is None
    while any ended job's cost is unknown."""
    meta = jobs[0].metadata or {}
    active = any(j.status in ACTIVE_STATUSES for j in jobs)
    failed = [r["id"] for r in rows if r["reading"] == JobStatus.FAILED]
    readings = {r["reading"] for r in rows}
    if active:
        status = Reading.RUNNING.value
    elif failed:
        status = JobStatus.FAILED.value
    elif Reading.CANCELED in readings:
        status = Reading.CANCELED.value
    elif readings == {Reading.ALL_ERRORED}:
        status = Reading.ALL_ERRORED.value
    else:
        status = JobStatus.COMPLETED.value
    costs = [r["cost_usd"] for r in rows if r["status"] == JobStatus.COMPLETED]
    started = min(j.created_at for j in jobs)
    ended = None if active else max((j.completed_at for j in jobs if j.completed_at), default=None)
    return {
        "run": meta.get(jm.RUN),
        "first_job_id": jobs[0].id,
        "model": jobs[0].model,
        "kicked_off_by": meta.get(jm.KICKED_OFF_BY),
        "status": status,
        "jobs": rows,
        "job_count": len(rows),
        "pages": sum(r["pages"] for r in rows),
        "succeeded": sum(r["succeeded"] for r in rows),
        "errored": sum(r["errored"] for r in rows),
        "expired": sum(r["expired"] for r in rows),
        "canceled": sum(r["canceled"] for r in rows),
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_seconds": seconds_between(started, ended or now),
        "failed_jobs": failed,
    }


def active_summary() -> dict[str, int]:
    """How many jobs are in each status (for footers and the demo)."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    rows = SeoBatchJob.select(SeoBatchJob.status, fn.COUNT(SeoBatchJob.id)).group_by(SeoBatchJob.status)
    for status, n in _tuples(rows):
        counts[status] = n
    return counts


def _tuples(query: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a peewee query as tuples (its type stubs say model instances)."""
    return iter(query.tuples())


__all__ = [
    "DEFAULT_LIMIT",
    "STATUS_FILTERS",
    "active_summary",
    "count_jobs",
    "error_groups",
    "quality_summary",
    "iso",
    "job_detail",
    "list_jobs",
    "list_runs",
    "normalize_reason",
    "run_detail",
    "run_summary",
    "status_is",
]
