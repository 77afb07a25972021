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
#: A page URL with markup in it: the audit lists URLs, escaped.
EVIL_URL = "https://shop.example/<script>alert(1)</script>"
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


def proposed_job(titles: list[str], *, host: str = "shop.example", language: str = "en",
                 checks: list[dict[str, Any]] | None = None, flagged: bool = False,
                 run: str = "r1") -> SeoBatchJob:
    """A completed job whose replies wait for review (``SEOBATCH_PUBLISH=review``): per title
    a page with its original revision and a proposed one, written through the models."""
    from seobatch.models import PageRevision  # beside the job seeders; only this one needs it
    from seobatch.revisions import Reason, Source, State  # as above

    job = SeoBatchJob.create(model=MODEL, status=JobStatus.COMPLETED, metadata={jm.RUN: run},
                             total_pages=len(titles), succeeded_count=len(titles))
    for i, title in enumerate(titles):
        page = Page.create(url=f"https://{host}/{job.id}/{i}", title=f"Original {job.id}-{i}", content="text",
                           attributes={"language": language})
        item = SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id),
                                   status=ItemStatus.SUCCEEDED,
                                   result={"title": title, "meta_description": DESCRIPTION})
        original = PageRevision.create(page=page, title=page.title, state=State.SUPERSEDED,
                                       source=Source.ORIGINAL)
        PageRevision.create(page=page, job=job, item_id=item.id, title=title, description=DESCRIPTION,
                            replaces_id=original.id,  # as the results stage names it
                            state=State.PROPOSED, source=Source.GENERATED, model=MODEL, checks=checks,
                            flagged=flagged, reason=Reason.FLAGGED if flagged else Reason.REVIEW)
    return job


def audited_site() -> int:
    """Published values with duplicates, over-wide titles, a placeholder, a language
    mismatch and an injected URL; a job of them; live titles of their own."""
    job = completed_job(succeeded=4, titles=[LONG_TITLE, LONG_TITLE, "Home", "Oak chairs | Shop"],
                        page_titles=["Home", "Untitled", "Oak chair", "Oak chair"])
    Page.create(url=EVIL_URL, title="<b>Home</b>", content="Eichenstühle für jedes Esszimmer, geölt und montiert.",
                attributes={"language": "de"}, seo_title="Sturdy oak chairs for every dining room, delivered",
                seo_description=DESCRIPTION)
    Page.create(url="https://shop.example/plain", title="Pine table", content="A pine table.")
    return job.id
