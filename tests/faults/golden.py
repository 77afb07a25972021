"""Golden comparison: the final tables of a run, with ids and timestamps taken out.

A fault test runs the same input twice — fault-free, then with its fault — and asserts
that ``snapshot()`` of both is equal: every page's SEO fields, every item's outcome
(custom_id, status, result, error), every job's status and counts, the events of each
job. Ids are replaced by what they stand for (a page's URL, a job's position in the run),
timestamps are dropped, provider batch ids are masked wherever they appear in text.
"""

from __future__ import annotations

import re
from typing import Any

from seobatch import db
from seobatch.models import JOB_EVENTS, Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob

#: Job metadata that describes the outcome (everything else is bookkeeping of how it got there).
OUTCOME_METADATA = ("error", "cost_usd", "input_tokens", "output_tokens", "canceled_count", "ending",
                    "collected")
#: Event payload keys that carry ids or change with timing.
EVENT_NOISE = ("job_id", "provider_batch_id")
_PROVIDER_ID = re.compile(r"\b(?:msgbatch_[A-Za-z0-9]+|batches/[A-Za-z0-9_-]+|files/[A-Za-z0-9_-]+)")
_JOB_REF = re.compile(r"\bjob \d+\b")

TABLES = (SeoBatchEvent, SeoBatchItem, SeoBatchJob, Page)


def scrub(value: Any) -> Any:
    """Mask provider ids and job numbers inside text (reasons quote them)."""
    if isinstance(value, str):
        return _JOB_REF.sub("job #", _PROVIDER_ID.sub("<batch>", value))
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def snapshot() -> dict[str, Any]:
    """The outcome of everything in the database, free of ids and timestamps."""
    url_of = dict(Page.select(Page.id, Page.url).tuples())
    pages = {
        url: {
            "seo_title": title,
            "seo_description": description,
            "seo_model": model,
            "seo_attempts": attempts,
            "seo_last_error": scrub(error),
            "seo_current": seo_hash == content_hash,
            "seo_prompt_version": version,
        }
        for url, title, description, model, attempts, error, seo_hash, content_hash, version in Page.select(
            Page.url, Page.seo_title, Page.seo_description, Page.seo_model, Page.seo_attempts,
            Page.seo_last_error, Page.seo_content_hash, Page.content_hash, Page.seo_prompt_version,
        ).tuples()
    }
    jobs = []
    for job in SeoBatchJob.select().order_by(SeoBatchJob.id):
        meta = job.metadata or {}
        items = {}
        for custom_id, page_id, status, result, error in (
            SeoBatchItem.select(SeoBatchItem.custom_id, SeoBatchItem.page, SeoBatchItem.status,
                                SeoBatchItem.result, SeoBatchItem.error)
            .where(SeoBatchItem.job == job.id).tuples()
        ):
            url = url_of[page_id]
            items[url] = {
                # The custom_id is the page's id: check it is, then say which page.
                "custom_id": f"p<{url}>" if custom_id == SeoBatchItem.custom_id_for(page_id, job.id) else custom_id,
                "status": status,
                "result": result,
                "error": scrub(error),
            }
        events: dict[str, list[dict[str, Any]]] = {}
        for name, payload in (
            SeoBatchEvent.select(SeoBatchEvent.name, SeoBatchEvent.payload)
            .where((SeoBatchEvent.job == job.id) & SeoBatchEvent.name.in_(JOB_EVENTS))
            .order_by(SeoBatchEvent.id).tuples()
        ):
            clean = {k: v for k, v in (payload or {}).items() if k not in EVENT_NOISE}
            events.setdefault(name, []).append(scrub(clean))
        jobs.append({
            "model": job.model,
            "status": job.status,
            "has_batch": bool(job.ai_batch_id),
            "total_pages": job.total_pages,
            "succeeded_count": job.succeeded_count,
            "errored_count": job.errored_count,
            "expired_count": job.expired_count,
            "metadata": scrub({k: meta[k] for k in OUTCOME_METADATA if k in meta}),
            "items": items,
            "events": events,
        })
    return {"pages": pages, "jobs": jobs}


def undelivered_events() -> int:
    return SeoBatchEvent.select().where(
        SeoBatchEvent.published_at.is_null() & SeoBatchEvent.name.in_(JOB_EVENTS)).count()


def wipe() -> None:
    """Empty every table (between the golden run and the fault run of one test)."""
    with db.database.atomic():
        for model in TABLES:
            model.delete().execute()


def assert_same(actual: dict[str, Any], golden: dict[str, Any]) -> None:
    """Compare two snapshots part by part, so a failure names the part that differs."""
    assert sorted(actual["pages"]) == sorted(golden["pages"]), "a different set of pages"
    for url, fields in golden["pages"].items():
        assert actual["pages"][url] == fields, f"page {url}"
    assert len(actual["jobs"]) == len(golden["jobs"]), "a different number of jobs"
    for n, (got, want) in enumerate(zip(actual["jobs"], golden["jobs"], strict=True)):
        for key in want:
            assert got[key] == want[key], f"job #{n + 1}: {key}"


def assert_one_outcome_per_item() -> None:
    """Every item ended exactly once: none pending, none counted twice in its job."""
    assert SeoBatchItem.select().where(SeoBatchItem.status == "pending").count() == 0
    for job in SeoBatchJob.select():
        if job.status != "completed":
            continue
        n = SeoBatchItem.select().where(SeoBatchItem.job == job.id).count()
        canceled = (job.metadata or {}).get("canceled_count", 0)
        assert job.succeeded_count + job.errored_count + job.expired_count == n, f"job {job.id} counts"
        assert canceled <= job.expired_count


def assert_events_once() -> None:
    """At most one event of each kind per job, and every event delivered."""
    rows = list(SeoBatchEvent.select(SeoBatchEvent.job, SeoBatchEvent.name).tuples())
    assert len(rows) == len(set(rows)), "an event recorded twice"
    for job in SeoBatchJob.select():
        names = {name for job_id, name in rows if job_id == job.id}
        if job.status == "completed":
            assert "job_completed" in names and "job_failed" not in names
        if job.status == "failed":
            assert "job_failed" in names and "job_completed" not in names
