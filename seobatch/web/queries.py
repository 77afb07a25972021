"""The reads the web page needs that ``seobatch.reports`` does not offer: keyset pages.

Each function is a fixed number of queries whatever the page size (never one per row),
reads only the columns it shows, and pages by id (``WHERE id < cursor ORDER BY id DESC``)
so the thousandth page costs what the first does. Costs come from what the results stage
recorded on the job (``cost_usd``, ``input_tokens``, ``output_tokens``), not from the items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .. import jobmeta as jm
from ..config import Settings
from ..db import iso, utcnow
from ..jobmeta import ItemStatus
from ..models import Page, SeoBatchItem, SeoBatchJob
from ..pricing import interactive_cost
from ..reports import seconds_between

PAGE_SIZE = 25
NIGHTS = 30


@dataclass(frozen=True)
class Keyset:
    """One keyset page: its rows, and the cursor of the next (older) page or None."""

    rows: list[dict[str, Any]]
    next_cursor: int | None


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _costs(model: str, meta: dict[str, Any], settings: Settings | None) -> tuple[float | None, float | None]:
    """(batch USD as recorded, the same tokens at interactive prices)."""
    batch = _number(meta.get(jm.COST_USD))
    tokens_in, tokens_out = meta.get(jm.INPUT_TOKENS), meta.get(jm.OUTPUT_TOKENS)
    interactive = None
    if isinstance(tokens_in, int) and isinstance(tokens_out, int):
        interactive = interactive_cost(model, tokens_in, tokens_out, settings)
    return batch, interactive


def jobs_page(*, before: int | None = None, limit: int = PAGE_SIZE,
              settings: Settings | None = None, now: datetime | None = None) -> Keyset:
    """Jobs newest first, ``limit`` of them with ids below ``before``: one query."""
    now = now or utcnow()
    query = SeoBatchJob.select().order_by(SeoBatchJob.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(SeoBatchJob.id < before)
    jobs = list(query)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    rows = []
    for job in jobs:
        meta = job.metadata or {}
        batch, interactive = _costs(job.model, meta, settings)
        rows.append({
            "id": job.id,
            "run": meta.get(jm.RUN),
            "model": job.model,
            "provider": job.provider,
            "status": job.status,
            "pages": job.total_pages or int(meta.get(jm.COLLECTED) or 0),
            "succeeded": job.succeeded_count or 0,
            "errored": job.errored_count or 0,
            "expired": job.expired_count or 0,
            "cost_usd": batch,
            "interactive_usd": interactive,
            "savings_usd": None if batch is None or interactive is None else interactive - batch,
            "created_at": iso(job.created_at),
            "turnaround_seconds": seconds_between(job.submitted_at, job.completed_at),
            "age_seconds": seconds_between(job.created_at, now),
            "error": meta.get(jm.ERROR),
        })
    return Keyset(rows, jobs[-1].id if more and jobs else None)


def runs_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs of a page of ``jobs_page`` rows (a split run is several jobs), newest first:
    jobs, statuses, pages, outcomes and costs added up. Computed from the rows, no query."""
    runs: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["run"] or f"job {row['id']}"
        run = runs.setdefault(key, {"run": key, "jobs": [], "statuses": {}, "pages": 0, "succeeded": 0,
                                    "errored": 0, "expired": 0, "cost_usd": None, "interactive_usd": None,
                                    "created_at": row["created_at"]})
        run["jobs"].append(row["id"])
        run["statuses"][row["status"]] = run["statuses"].get(row["status"], 0) + 1
        for key_ in ("pages", "succeeded", "errored", "expired"):
            run[key_] += row[key_]
        for key_ in ("cost_usd", "interactive_usd"):
            if row[key_] is not None:
                run[key_] = (run[key_] or 0.0) + row[key_]
        run["created_at"] = min(run["created_at"], row["created_at"])
    return list(runs.values())


def nightly(*, nights: int = NIGHTS, settings: Settings | None = None,
            today: date | None = None) -> list[dict[str, Any]]:
    """Per UTC night (the day a job was created) of the last ``nights``: jobs, pages
    written (succeeded items), cost at batch prices and at interactive prices.

    Reads the jobs of those nights only (a handful a night), streamed; nights without a
    job are there with zeros so the chart's axis is even.
    """
    today = today or utcnow().date()
    first = today - timedelta(days=nights - 1)
    days = [first + timedelta(days=i) for i in range(nights)]
    out: dict[date, dict[str, Any]] = {
        day: {"night": day.isoformat(), "jobs": 0, "pages": 0, "cost_usd": 0.0, "interactive_usd": 0.0}
        for day in days
    }
    query = (
        SeoBatchJob.select(SeoBatchJob.created_at, SeoBatchJob.model, SeoBatchJob.metadata,
                           SeoBatchJob.succeeded_count)
        .where(SeoBatchJob.created_at >= datetime.combine(first, datetime.min.time()))
        .order_by(SeoBatchJob.id)
    )
    for job in query.iterator():
        night = out.get(job.created_at.date())
        if night is None:
            continue
        batch, interactive = _costs(job.model, job.metadata or {}, settings)
        night["jobs"] += 1
        night["pages"] += job.succeeded_count or 0
        night["cost_usd"] += batch or 0.0
        night["interactive_usd"] += interactive or 0.0
    return list(out.values())


def job_results(job_id: int, *, after: int | None = None, limit: int = PAGE_SIZE) -> Keyset:
    """A job's succeeded items with their page, in item order after ``after``: one query."""
    query = (
        SeoBatchItem.select(SeoBatchItem.id, SeoBatchItem.result, Page.id.alias("page_id"), Page.url,
                            Page.title, Page.seo_title, Page.seo_description)
        .join(Page)
        .where((SeoBatchItem.job == job_id) & (SeoBatchItem.status == ItemStatus.SUCCEEDED))
        .order_by(SeoBatchItem.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(SeoBatchItem.id > after)
    rows = []
    item: dict[str, Any]
    for item in query.dicts():  # type: ignore[assignment]
        result = item["result"] if isinstance(item["result"], dict) else {}
        rows.append({
            "item_id": item["id"],
            "page_id": item["page_id"],
            "url": item["url"],
            "page_title": item["title"],
            "title": str(result.get("title") or ""),
            "description": str(result.get("meta_description") or ""),
            "live": (item["seo_title"], item["seo_description"]) == (result.get("title"),
                                                                   result.get("meta_description")),
        })
    more = len(rows) > limit
    rows = rows[:limit]
    return Keyset(rows, rows[-1]["item_id"] if more and rows else None)
