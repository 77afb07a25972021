"""Retention: ``seobatch prune`` clears old finished jobs' request bodies and replies, on
both databases, and keeps everything that tells what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest

from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.prune import prune
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import drive, make_settings

REQUEST = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x" * 500}]}
RESULT = {"title": "A title long enough", "meta_description": "d" * 80}


def _job(status: str, *, days_ago: float, items: int, pages: list[Page], completed: bool = True) -> SeoBatchJob:
    at = utcnow() - timedelta(days=days_ago)
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status=status, metadata={"cost_usd": 0.5},
                             succeeded_count=items, completed_at=at if completed else None)
    SeoBatchJob.update(updated_at=at).where(SeoBatchJob.id == job.id).execute()
    for page in pages[:items]:
        SeoBatchItem.create(job=job, page=page, custom_id=f"j{job.id}p{page.id}", status=ItemStatus.SUCCEEDED,
                            request=REQUEST, result=RESULT, input_tokens=100, output_tokens=20, error=None,
                            content_hash=page.content_hash, prompt_version="v1")
    return job


def _payloads(job: SeoBatchJob) -> list[tuple[bool, bool]]:
    rows = SeoBatchItem.select(SeoBatchItem.request, SeoBatchItem.result).where(SeoBatchItem.job == job.id)
    return [(r.request is not None, r.result is not None) for r in rows]


def test_prune_clears_only_finished_jobs_older_than_the_retention(any_db):
    settings = make_settings(retention_days=30)
    pages = make_pages(12)
    old = _job(JobStatus.COMPLETED, days_ago=40, items=12, pages=pages)
    old_failed = _job(JobStatus.FAILED, days_ago=31, items=3, pages=pages, completed=False)
    recent = _job(JobStatus.COMPLETED, days_ago=29, items=4, pages=pages)
    active = _job(JobStatus.PROCESSING, days_ago=45, items=5, pages=pages, completed=False)
    events = SeoBatchEvent.select().count()

    # A dry run counts what would go, and changes nothing
    dry = prune(settings, dry_run=True)
    assert (dry.jobs, dry.items, dry.dry_run) == (2, 15, True)
    assert "would clear" in dry.describe() and "15 item(s) in 2 job(s)" in dry.describe()
    assert _payloads(old) == [(True, True)] * 12

    # The real run, a few items per transaction
    done = prune(settings, chunk=5)
    assert (done.jobs, done.items) == (2, 15)
    assert _payloads(old) == [(False, False)] * 12 and _payloads(old_failed) == [(False, False)] * 3
    assert _payloads(recent) == [(True, True)] * 4 and _payloads(active) == [(True, True)] * 5

    # What tells what happened stays: the job, its counts and cost, each item's outcome
    kept = SeoBatchJob.get_by_id(old.id)
    assert (kept.status, kept.succeeded_count, kept.metadata["cost_usd"]) == ("completed", 12, 0.5)
    assert SeoBatchItem.counts_for(old.id) == {"succeeded": (12, 1200, 240)}
    assert SeoBatchEvent.select().count() == events

    # Again: nothing left to do
    again = prune(settings)
    assert (again.jobs, again.items) == (0, 0) and "nothing to prune" in again.describe()


def test_a_shorter_retention_prunes_more(any_db):
    pages = make_pages(3)
    job = _job(JobStatus.COMPLETED, days_ago=2, items=3, pages=pages)
    assert prune(make_settings(retention_days=30)).items == 0
    assert prune(make_settings(retention_days=1)).items == 3
    assert _payloads(job) == [(False, False)] * 3


def test_a_pruned_job_leaves_its_pages_seo_and_the_next_night_alone(any_db, emulator):
    # Given a real run whose results were saved, then pruned
    settings = make_settings(emulator, retention_days=0)
    make_pages(6)
    first = kickoff(settings=settings).job
    drive([Step("collect", first.id)], settings)
    assert SeoBatchJob.get_by_id(first.id).status == "completed"
    # The results stage already let go of the request bodies (nothing sends them again);
    # the replies stay until the retention has passed
    assert _payloads(SeoBatchJob.get_by_id(first.id)) == [(False, True)] * 6
    assert prune(settings).items == 6
    # Then the pages keep their SEO, and nothing is eligible again because of the prune
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    second = kickoff(settings=settings).job
    drive([Step("collect", second.id)], settings)
    assert SeoBatchJob.get_by_id(second.id).total_pages in (0, None)


@pytest.fixture
def cli(any_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", any_db)

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().out

    return run


def test_seobatch_prune_and_its_dry_run(cli, monkeypatch):
    pages = make_pages(4)
    job = _job(JobStatus.COMPLETED, days_ago=10, items=4, pages=pages)
    monkeypatch.setenv("SEOBATCH_RETENTION_DAYS", "7")
    code, out = cli("prune", "--dry-run")
    assert code == 0 and "would clear the request bodies and replies of 4 item(s) in 1 job(s)" in out
    assert _payloads(job) == [(True, True)] * 4
    code, out = cli("prune")
    assert code == 0 and "cleared the request bodies and replies of 4 item(s) in 1 job(s)" in out
    assert _payloads(job) == [(False, False)] * 4
    assert cli("prune")[1].startswith("nothing to prune")


def test_the_clock_prunes_after_each_nightly_kickoff(any_db, monkeypatch, caplog):
    import logging
    from datetime import datetime

    from seobatch import clock
    from seobatch.schedule import Schedule

    pages = make_pages(3)
    old = _job(JobStatus.COMPLETED, days_ago=40, items=3, pages=pages)
    monkeypatch.setattr(clock, "kick", lambda settings, queue: "stub kickoff")
    t = datetime(2030, 1, 1, 2, 0)
    plan = clock.Plan(next_kick=t, next_sweep=t + timedelta(hours=1))
    with caplog.at_level(logging.INFO):
        clock.tick(make_settings(database_url=any_db), Schedule.parse("0 2 * * *"), plan, t, queue=None)
    assert "clock: kickoff: stub kickoff" in caplog.text and "clock: prune: cleared" in caplog.text
    assert _payloads(old) == [(False, False)] * 3
