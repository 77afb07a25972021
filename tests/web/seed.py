"""Jobs, items and pages for the web tests, written through the models (no pipeline run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from seobatch import jobmeta as jm
from seobatch.db import utcnow
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.pricing import batch_cost

MODEL = "claude-sonnet-4-5"
LONG_TITLE = "Discover Running Shoes for Every Kind of Runner: Everything You Need to Know Today"
DESCRIPTION = "A sturdy hand-made oak chair for every dining room, oiled and delivered assembled."


def completed_job(*, succeeded: int = 3, errored: int = 0, titles: list[str] | None = None,
                  errors: list[str] | None = None, page_titles: list[str] | None = None,
                  run: str = "r1", days_ago: int = 0, meta: dict[str, Any] | None = None) -> SeoBatchJob:
    """A completed job with ``succeeded`` pages written and ``errored`` items failed."""
    now = utcnow() - timedelta(days=days_ago)
    tokens_in, tokens_out = 1000 * (succeeded + errored), 100 * (succeeded + errored)
    job = SeoBatchJob.create(
        model=MODEL, status=JobStatus.COMPLETED, ai_batch_id=f"msgbatch_{run}_{days_ago}_{utcnow().timestamp()}",
        created_at=now, submitted_at=now + timedelta(minutes=1), completed_at=now + timedelta(minutes=31),
        total_pages=succeeded + errored, succeeded_count=succeeded, errored_count=errored,
        metadata={jm.RUN: run, jm.PROVIDER: "anthropic", jm.INPUT_TOKENS: tokens_in,
                  jm.OUTPUT_TOKENS: tokens_out, jm.COST_USD: batch_cost(MODEL, tokens_in, tokens_out), **(meta or {})},
    )
    titles = titles or [LONG_TITLE] * succeeded
    errors = errors or [f"invalid_output: title is {75 + i} characters, needs 10-70" for i in range(errored)]
    page_titles = page_titles or [f"Page {i}" for i in range(succeeded + errored)]
    for i in range(succeeded + errored):
        page = Page.create(url=f"https://shop.example/{job.id}/{i}", title=page_titles[i % len(page_titles)],
                           content="text")
        ok = i < succeeded
        result = {"title": titles[i % len(titles)], "meta_description": DESCRIPTION} if ok else None
        SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id),
                            status=ItemStatus.SUCCEEDED if ok else ItemStatus.ERRORED, result=result,
                            error=None if ok else errors[(i - succeeded) % len(errors)],
                            input_tokens=1000, output_tokens=100)
        if ok:
            Page.update(seo_title=result["title"], seo_description=DESCRIPTION).where(Page.id == page.id).execute()
    return job


def collecting_job(pages: int = 2) -> SeoBatchJob:
    job = SeoBatchJob.create(model=MODEL, status=JobStatus.COLLECTING, metadata={jm.RUN: "live", jm.COLLECTED: pages})
    for i in range(pages):
        page = Page.create(url=f"https://shop.example/c{job.id}/{i}", title=f"C {i}", content="x")
        SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id))
    return job
