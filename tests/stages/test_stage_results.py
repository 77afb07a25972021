"""results: every item gets one outcome, pages get SEO or an attempt, the job its counts."""

from __future__ import annotations

import json

import pytest

from seobatch import events
from seobatch.models import Page, SeoBatchItem
from seobatch.pricing import batch_cost
from seobatch.providers.base import ItemResult
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.results import results
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import FakeProvider, drive, items_of, job


def _processing(settings, pages=6, provider=None, model="claude-sonnet-4-5") -> int:
    make_pages(pages)
    j = kickoff(settings=settings, model=model).job
    collect(j.id, settings=settings, provider=provider)
    submit(j.id, settings=settings, provider=provider)
    return j.id


def test_results_give_every_page_its_seo_and_the_job_its_counts_and_cost(any_db, emulator, settings):
    job_id = _processing(settings, pages=9)
    completed = []
    with events.job_completed.connected_to(lambda sender, **kw: completed.append(kw)):
        assert results(job_id, settings=settings) == []
    row = job(job_id)
    assert (row.status, row.succeeded_count, row.errored_count, row.expired_count) == ("completed", 9, 0, 0)
    for page in Page.select():
        assert page.seo_title and page.seo_description and page.seo_model == "claude-sonnet-4-5"
        assert page.seo_content_hash == page.content_hash and page.seo_attempts == 0
        assert page.seo_prompt_version == items_of(job_id)[0].prompt_version
    meta = row.metadata
    assert meta["input_tokens"] > 0 and meta["output_tokens"] > 0
    assert meta["cost_usd"] == pytest.approx(
        batch_cost("claude-sonnet-4-5", meta["input_tokens"], meta["output_tokens"]), abs=1e-6)
    assert [c["succeeded_count"] for c in completed] == [9]
    # The next night has nothing to do
    nxt = kickoff(settings=settings).job
    collect(nxt.id, settings=settings)
    assert job(nxt.id).status == "completed" and items_of(nxt.id) == []


def test_mixed_outcomes_are_counted_and_failed_pages_stay_eligible(any_db, emulator, settings):
    emulator.set_faults(error_rate=0.25, expire_rate=0.25, malformed_rate=0.25, results_out_of_order=True)
    job_id = _processing(settings, pages=40)
    results(job_id, settings=settings)
    row = job(job_id)
    by_status = {s: SeoBatchItem.select().where((SeoBatchItem.job == job_id) & (SeoBatchItem.status == s)).count()
                 for s in SeoBatchItem.STATUSES}
    assert by_status["pending"] == 0
    assert row.succeeded_count == by_status["succeeded"] > 0
    assert row.errored_count == by_status["errored"] > 0 and row.expired_count == by_status["expired"] > 0
    assert row.succeeded_count + row.errored_count + row.expired_count == 40
    invalid = SeoBatchItem.select().where(SeoBatchItem.error.startswith("invalid_output")).count()
    assert invalid > 0
    # Only errored items (provider errors, invalid output) cost their page an attempt
    charged = Page.select().where(Page.seo_attempts == 1)
    assert charged.count() == by_status["errored"]
    assert Page.select().where(Page.seo_attempts > 1).count() == 0
    failed = Page.select().where(Page.seo_title.is_null())
    assert failed.count() == by_status["errored"] + by_status["expired"]
    assert all(p.seo_last_error for p in failed)
    # Tomorrow, exactly the failed pages are collected again
    nxt = kickoff(settings=settings).job
    collect(nxt.id, settings=settings)
    assert sorted(i.page_id for i in items_of(nxt.id)) == sorted(p.id for p in failed)


def test_results_run_twice_or_after_a_crash_count_each_result_once(any_db, settings):
    provider = FakeProvider()
    job_id = _processing(settings, pages=10, provider=provider)
    # A crash after the first chunk: run only the first chunk's save
    from seobatch.output import OutputLimits
    from seobatch.stages.results import _save_chunk

    batch = provider.get_batch(job(job_id).ai_batch_id)
    _save_chunk(job(job_id), list(provider.iter_results(batch))[:7], OutputLimits())
    Page.update(seo_attempts=0).execute()
    # The retry reads everything again; then a duplicate message arrives
    results(job_id, settings=settings, provider=provider)
    assert results(job_id, settings=settings, provider=provider) == []
    row = job(job_id)
    assert (row.status, row.succeeded_count) == ("completed", 10)
    assert Page.select().where(Page.seo_title.is_null()).count() == 0


class _Scripted(FakeProvider):
    def __init__(self, script):
        super().__init__()
        self.script = script

    def iter_results(self, batch):
        yield from self.script(self.batches[batch.id]["items"])


def test_unknown_duplicate_and_missing_results(any_db, settings, caplog):
    def script(items):
        (a, _), (b, _), (c, _) = items[:3]
        yield ItemResult("p999999", "succeeded", "{}")  # unknown: logged, ignored
        yield ItemResult(a, "errored", error="api_error: boom")
        yield ItemResult(a, "succeeded", json.dumps({"title": "A title that is long enough",
                                                       "meta_description": "x" * 80}))  # duplicate: first wins
        yield ItemResult(b, "succeeded", "not json at all")
        yield ItemResult(c, "canceled")
        # items[3:] never arrive

    provider = _Scripted(script)
    job_id = _processing(settings, pages=5, provider=provider)
    results(job_id, settings=settings, provider=provider)
    items = items_of(job_id)
    assert [i.status for i in items] == ["errored", "errored", "canceled", "errored", "errored"]
    assert items[0].error == "api_error: boom"
    assert items[1].error.startswith("invalid_output")
    assert items[3].error == items[4].error == "missing_result"
    row = job(job_id)
    assert (row.succeeded_count, row.errored_count, row.expired_count) == (0, 4, 1)
    assert row.metadata["canceled_count"] == 1
    attempts = {p.id: p.seo_attempts for p in Page.select()}
    # Errored and invalid output cost an attempt; canceled and missing results do not
    assert [attempts[i.page_id] for i in items] == [1, 1, 0, 0, 0]
    assert Page.get_by_id(items[3].page_id).seo_last_error == "missing_result"
    assert "unknown custom_id" in caplog.text and "1 duplicate" in caplog.text


@pytest.mark.parametrize("attempt", range(3))
def test_the_first_result_of_a_duplicate_wins_across_chunks_saved_side_by_side(any_db, settings, attempt):
    # Chunks of two: on PostgreSQL the first chunk is saved on the second lane while the
    # second chunk, which repeats the first chunk's id with another outcome, is saved here.
    settings = settings.with_(chunk_size=2)
    good = json.dumps({"title": "A title that is long enough", "meta_description": "x" * 80})

    def script(items):
        (a, _), (b, _), (c, _), (d, _) = items[:4]
        yield ItemResult(a, "succeeded", good)
        yield ItemResult(b, "succeeded", good)
        yield ItemResult(a, "errored", error="api_error: a later duplicate")
        yield ItemResult(c, "succeeded", good)
        yield ItemResult(d, "succeeded", good)

    provider = _Scripted(script)
    job_id = _processing(settings, pages=4, provider=provider)
    results(job_id, settings=settings, provider=provider)
    assert [i.status for i in items_of(job_id)] == ["succeeded"] * 4
    assert job(job_id).succeeded_count == 4


def test_an_expired_batch_keeps_its_successes(any_db, emulator, settings):
    emulator.set_faults(batch_outcome="expire")
    job_id = _processing(settings, pages=6)
    results(job_id, settings=settings)
    row = job(job_id)
    assert row.status == "completed" and row.metadata["ending"] == "expired"
    assert row.succeeded_count + row.expired_count == 6 and row.expired_count > 0
    assert Page.select().where(Page.seo_title.is_null(False)).count() == row.succeeded_count


def test_a_failed_batch_fails_the_job_with_the_providers_reason(any_db, emulator, settings):
    emulator.set_faults(batch_outcome="fail")
    job_id = _processing(settings, pages=2, model="gemini-2.5-flash")
    results(job_id, settings=settings)
    row = job(job_id)
    assert row.status == "failed" and "failed" in row.metadata["error"]


def test_results_that_are_gone_fail_the_job_as_results_unavailable(any_db, emulator, settings):
    job_id = _processing(settings, pages=2)
    emulator.set_faults(results_gone=True)
    assert results(job_id, settings=settings) == []
    row = job(job_id)
    assert row.status == "failed" and row.metadata["error"].startswith("results_unavailable: ")


def test_a_page_edited_while_its_batch_ran_is_collected_again(any_db, settings):
    provider = FakeProvider()
    job_id = _processing(settings, pages=2, provider=provider)
    edited = Page.select().order_by(Page.id).first()
    edited.content = "Rewritten while the batch was running."
    edited.save()
    results(job_id, settings=settings, provider=provider)
    assert Page.get_by_id(edited.id).seo_title  # the reply is kept…
    nxt = kickoff(settings=settings).job
    collect(nxt.id, settings=settings, provider=provider)
    assert [i.page_id for i in items_of(nxt.id)] == [edited.id]  # …and the page is redone


def test_results_of_a_batch_still_running_go_back_to_polling(any_db, emulator, settings):
    emulator.set_faults(processing_seconds=3600)
    job_id = _processing(settings, pages=1)
    steps = results(job_id, settings=settings)
    assert len(steps) == 1 and steps[0].actor == "poll"
    assert job(job_id).status == "processing"


def test_the_whole_pipeline_driven_by_hand(any_db, emulator, settings):
    make_pages(12)
    trace = drive(kickoff(settings=settings).steps, settings)
    assert [s.actor for s in trace] == ["collect", "submit", "poll", "results"]
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    assert trace[0] == Step("collect", trace[-1].job_id)


def test_the_provider_files_are_deleted_once_the_results_are_saved(any_db, settings):
    make_pages(4)
    provider = FakeProvider()
    first = kickoff(settings=settings).job
    drive([Step("collect", first.id)], settings, provider)
    row = job(first.id)
    assert row.status == "completed"
    assert provider.deleted_files == [row.ai_batch_id]
