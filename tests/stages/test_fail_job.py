"""fail_job: the one way a job fails, its reason never carries a secret, and its unfinished
items take its outcome."""

from __future__ import annotations

from seobatch.jobmeta import reading
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem
from seobatch.stages import Step
from seobatch.stages.cancel import cancel
from seobatch.stages.collect import collect
from seobatch.stages.jobstate import fail_job
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, job


def test_a_stage_failing_a_job_redacts_the_keys_from_its_reason(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    assert fail_job(j, f"the provider's batch failed: bad key {TEST_KEY} / sk-ant-abcdefgh123", settings=settings)
    error = job(j.id).metadata["error"]
    assert TEST_KEY not in error and "sk-ant-abcdefgh123" not in error and "[REDACTED]" in error
    event = SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").get()
    assert TEST_KEY not in str(event.payload)


def test_key_shaped_strings_are_redacted_even_without_settings(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    assert fail_job(j.id, "boom AIzaSyA1234567890abcdef")
    assert "AIzaSy" not in job(j.id).metadata["error"]
    assert fail_job(j.id, "again") is False  # already failed: once


def test_a_failed_jobs_pending_items_take_its_outcome_in_one_update_and_charge_no_page(any_db, settings, queries):
    # Given a collected job of 6 pages, two of whose items already have an outcome
    pages = make_pages(6)
    j = kickoff(settings=settings).job
    assert collect(j.id, settings=settings) == [Step("submit", j.id)]
    first, second = SeoBatchItem.select().where(SeoBatchItem.job == j.id).order_by(SeoBatchItem.id)[:2]
    SeoBatchItem.update(status="succeeded").where(SeoBatchItem.id == first.id).execute()
    SeoBatchItem.update(status="errored", error="invalid_output: x").where(SeoBatchItem.id == second.id).execute()
    # When the job fails
    queries.clear()
    assert fail_job(j.id, "the provider's batch failed: boom", settings=settings)
    # Then its pending items are failed by one UPDATE, the others keep their outcome
    statuses = [i.status for i in SeoBatchItem.select().where(SeoBatchItem.job == j.id).order_by(SeoBatchItem.id)]
    assert statuses == ["succeeded", "errored"] + ["failed"] * 4
    assert sum(q.startswith('UPDATE "seo_batch_items"') for q in queries) == 1, queries
    # And no page was charged an attempt: the next run collects the unfinished ones again
    assert {p.seo_attempts for p in Page.select()} == {0}
    again = kickoff(settings=settings).job
    collect(again.id, settings=settings)
    taken = {i.page_id for i in SeoBatchItem.select().where(SeoBatchItem.job == again.id)}
    assert taken == {p.id for p in pages}


def test_a_job_canceled_before_submission_leaves_its_items_canceled(any_db, settings):
    # Given two collected jobs, canceled before submission from the CLI and from the web page
    make_pages(3)
    by_cli = kickoff(settings=settings).job
    collect(by_cli.id, settings=settings)
    cancel(by_cli.id, settings=settings)
    make_pages(2, start=10)
    by_web = kickoff(settings=settings).job
    collect(by_web.id, settings=settings)
    cancel(by_web.id, settings=settings, by="alice (web)")
    # Then their items read canceled, and so do the jobs
    for j in (by_cli, by_web):
        assert {i.status for i in SeoBatchItem.select().where(SeoBatchItem.job == j.id)} == {"canceled"}
        done = job(j.id)
        assert done.status == "failed"
        assert reading(done.status, done.metadata, done.succeeded_count, done.errored_count) == "canceled"
    assert job(by_web.id).metadata["error"] == "canceled by operator alice (web)"
