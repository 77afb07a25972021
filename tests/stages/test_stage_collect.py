"""collect: the right pages, one item each, in chunks, split at the provider's limits."""

from __future__ import annotations

import threading

from seobatch import db, events
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.prompts import PromptTemplate
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import items_of, job, make_settings


def _kick(settings, **kw):
    return kickoff(settings=settings, **kw).job


def _mark_done(pages, *, model="claude-sonnet-4-5", version=None, settings=None):
    """Pages as if a previous night generated their SEO from what they are now."""
    version = version or PromptTemplate.load(settings).version
    for p in pages:
        Page.update(
            seo_title="Old title of the page", seo_description="d" * 60, seo_model=model,
            seo_generated_at=db.utcnow(), seo_content_hash=p.content_hash, seo_prompt_version=version,
        ).where(Page.id == p.id).execute()


def test_collect_builds_one_item_per_page_and_hands_the_job_to_submit(any_db, settings):
    # Given 20 pages (chunks of 7)
    pages = make_pages(20)
    j = _kick(settings)
    # When the job is collected
    steps = collect(j.id, settings=settings)
    # Then it has one request per page, built from the page, and waits for submit
    assert steps == [Step("submit", j.id)]
    row = job(j.id)
    assert row.status == "submitting" and row.total_pages == 20
    items = items_of(j.id)
    assert [i.page_id for i in items] == [p.id for p in pages]
    version = PromptTemplate.load(settings).version
    first = items[0]
    assert first.custom_id == f"j{j.id}p{pages[0].id}" and first.status == "pending"
    assert first.content_hash == pages[0].content_hash and first.prompt_version == version
    assert first.request["model"] == "claude-sonnet-4-5"
    assert "Hand-made oak chair model 1" in first.request["messages"][0]["content"]
    meta = row.metadata
    assert meta["collected"] == 20 and meta["cursor"] == pages[-1].id
    assert meta["collected_bytes"] > 0 and meta["estimated_input_tokens"] > 0


def test_a_job_with_no_pages_completes_with_zero_counts(any_db, settings):
    seen = []
    with events.job_completed.connected_to(lambda sender, **kw: seen.append(kw["job_id"])):
        j = _kick(settings)
        assert collect(j.id, settings=settings) == []
    row = job(j.id)
    assert (row.status, row.total_pages, row.succeeded_count, row.errored_count) == ("completed", 0, 0, 0)
    assert seen == [j.id]


def test_collect_run_again_adds_nothing_and_resumes_after_a_crash(any_db, settings):
    # Given a job whose collector died after its first chunk had committed
    make_pages(10)
    j = _kick(settings)
    first = [p.id for p in Page.select().order_by(Page.id).limit(7)]
    SeoBatchItem.insert_many(
        [{"job": j.id, "page": pid, "custom_id": f"j{j.id}p{pid}", "request": {}} for pid in first]
    ).execute()
    SeoBatchJob.update(metadata={**j.metadata, "cursor": first[-1], "collected": 7}).where(
        SeoBatchJob.id == j.id).execute()
    # When collect runs again (a retry), and then once more (a duplicate message)
    assert collect(j.id, settings=settings) == [Step("submit", j.id)]
    assert collect(j.id, settings=settings) == []
    # Then every page is in the job exactly once
    assert sorted(i.page_id for i in items_of(j.id)) == [p.id for p in Page.select().order_by(Page.id)]
    assert job(j.id).total_pages == 10


def test_unchanged_pages_are_left_alone_and_changed_ones_collected(any_db, settings):
    pages = make_pages(5)
    _mark_done(pages, settings=settings)
    # An unchanged night: nothing to do
    j = _kick(settings)
    collect(j.id, settings=settings)
    assert job(j.id).status == "completed" and items_of(j.id) == []
    # Page 1's content changes, page 2's SEO came from another prompt, page 3's from another
    # model, page 4 never had SEO; page 5 is as it was.
    p1 = Page.get_by_id(pages[0].id)
    p1.content = "New text about the chair."
    p1.save()
    Page.update(seo_prompt_version="old-version").where(Page.id == pages[1].id).execute()
    Page.update(seo_model="gemini-2.5-flash").where(Page.id == pages[2].id).execute()
    Page.update(seo_generated_at=None, seo_title=None).where(Page.id == pages[3].id).execute()
    j = _kick(settings)
    collect(j.id, settings=settings)
    assert [i.page_id for i in items_of(j.id)] == [p.id for p in pages[:4]]


def test_a_new_prompt_version_collects_every_page_again(any_db, settings, tmp_path):
    pages = make_pages(3)
    _mark_done(pages, settings=settings)
    brand = tmp_path / "prompt.txt"
    brand.write_text("[system]\nWrite like a pirate.\n[user]\nURL: $url\nTitle: $title\n$content\n")
    custom = make_settings(prompt_file=str(brand), anthropic_base_url=settings.anthropic_base_url)
    j = _kick(custom)
    collect(j.id, settings=custom)
    assert len(items_of(j.id)) == 3
    assert {i.prompt_version for i in items_of(j.id)} == {PromptTemplate.load(custom).version}


def test_a_failing_page_is_tried_until_it_runs_out_of_attempts(any_db, settings):
    settings = make_settings(max_attempts=2, anthropic_base_url=settings.anthropic_base_url)
    [page] = make_pages(1)
    for attempts, expected in ((1, 1), (2, 0)):
        Page.update(seo_attempts=attempts, seo_last_error="invalid_output: too short").where(
            Page.id == page.id).execute()
        j = _kick(settings)
        collect(j.id, settings=settings)
        assert len(items_of(j.id)) == expected
        j.mark_failed("test over", expected=("submitting", "completed", "collecting"))


def test_a_page_pending_in_another_active_job_is_skipped(any_db, settings):
    pages = make_pages(3)
    busy = SeoBatchJob.create(model="gemini-2.5-flash", status="processing")
    SeoBatchItem.create(job=busy, page=pages[0], custom_id=f"p{pages[0].id}")
    failed = SeoBatchJob.create(model="claude-sonnet-4-5", status="failed")
    SeoBatchItem.create(job=failed, page=pages[1], custom_id=f"p{pages[1].id}")
    j = _kick(settings)
    collect(j.id, settings=settings)
    # The page of the failed job is free again; the one in the processing job is not.
    assert [i.page_id for i in items_of(j.id)] == [pages[1].id, pages[2].id]


def test_chunks_full_of_busy_pages_are_skipped_without_ending_the_job(any_db, settings):
    # Given 20 pages (chunks of 7) whose first 15 are pending in another active job
    pages = make_pages(20)
    busy = SeoBatchJob.create(model="gemini-2.5-flash", status="submitting")
    SeoBatchItem.insert_many(
        [(busy.id, p.id, f"p{p.id}", db.utcnow(), db.utcnow()) for p in pages[:15]],
        fields=[SeoBatchItem.job, SeoBatchItem.page, SeoBatchItem.custom_id,
                SeoBatchItem.created_at, SeoBatchItem.updated_at],
    ).execute()
    j = _kick(settings)
    # When the job is collected
    collect(j.id, settings=settings)
    # Then the two all-busy chunks are read past, and the free pages after them collected
    assert [i.page_id for i in items_of(j.id)] == [p.id for p in pages[15:]]
    assert job(j.id).status == "submitting"


def test_an_item_that_already_exists_is_kept_and_the_chunk_still_goes_in(any_db, settings):
    # Given a job that somehow already holds an item for its third page (a clash the
    # collector lock rules out; the write must still not fail the whole job over it)
    pages = make_pages(10)
    j = _kick(settings)
    SeoBatchItem.create(job=j, page=pages[2], custom_id=SeoBatchItem.custom_id_for(pages[2].id, j.id), request={"kept": True})
    # When it is collected
    collect(j.id, settings=settings)
    # Then every page has one item, the existing one untouched, the others built
    items = items_of(j.id)
    assert sorted(i.page_id for i in items) == [p.id for p in pages]
    by_page = {i.page_id: i for i in items}
    assert by_page[pages[2].id].request == {"kept": True}
    assert by_page[pages[3].id].request["messages"][0]["content"].startswith("URL: ")
    assert job(j.id).status == "submitting"


def test_a_run_over_the_request_limit_becomes_several_jobs_of_distinct_sizes(any_db, settings):
    settings = make_settings(batch_max_requests=4, anthropic_base_url=settings.anthropic_base_url)
    pages = make_pages(10)
    j = _kick(settings, max_cost=9.0)
    ids = [j.id]
    while True:
        steps = collect(ids[-1], settings=settings)
        if len(steps) == 1:
            assert steps == [Step("submit", ids[-1])]
            break
        nxt = job(ids[-1]).metadata["next_job_id"]
        assert steps == [Step("submit", ids[-1]), Step("collect", nxt)]
        ids.append(nxt)
    # Each job holds one item fewer than the one before: an unclear Anthropic create,
    # matched by its request count, matches one job of the run
    sizes = [len(items_of(i)) for i in ids]
    assert sizes == [4, 3, 2, 1]
    got = [i.page_id for k in ids for i in items_of(k)]
    assert got == [p.id for p in pages]
    # The run's settings travel with it
    assert job(ids[-1]).metadata["max_cost"] == 9.0 and job(ids[-1]).metadata["run"] == j.metadata["run"]


def test_a_run_over_the_byte_limit_splits_before_the_limit(any_db, settings):
    make_pages(6)
    probe = _kick(settings)
    collect(probe.id, settings=settings)
    per_item = job(probe.id).metadata["collected_bytes"] / 6
    probe.mark_failed("probe", expected=("submitting",))
    limit = int(per_item * 2.5)
    small = make_settings(batch_max_bytes=limit, anthropic_base_url=settings.anthropic_base_url)
    j = _kick(small)
    ids, steps = [j.id], collect(j.id, settings=small)
    while len(steps) == 2:
        ids.append(steps[1].job_id)
        steps = collect(steps[1].job_id, settings=small)
    # Two fit by bytes; the next job is capped at one fewer (distinct sizes), the one after
    # that has no cap left to lower (a one-item job sets none)
    assert [len(items_of(i)) for i in ids] == [2, 1, 2, 1]
    assert all(job(i).metadata["collected_bytes"] <= limit for i in ids)


def test_limit_caps_the_whole_run_across_its_jobs(any_db, settings):
    settings = make_settings(batch_max_requests=3, anthropic_base_url=settings.anthropic_base_url)
    make_pages(10)
    j = _kick(settings, limit=5)
    steps = collect(j.id, settings=settings)
    nxt = steps[1].job_id
    assert collect(nxt, settings=settings) == [Step("submit", nxt)]
    assert [len(items_of(i)) for i in (j.id, nxt)] == [3, 2]


def test_two_collectors_at_once_never_put_a_page_in_two_jobs(any_db, settings):
    # Given two runs (two models) collecting the same 40 pages at the same time
    make_pages(40)
    a = _kick(settings)
    b = _kick(settings, model="gemini-2.5-flash")
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def run(job_id: int) -> None:
        db.database.connect(reuse_if_open=True)
        try:
            barrier.wait()
            collect(job_id, settings=settings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in (a.id, b.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    # Then every page is in exactly one of the two jobs
    pages = [i.page_id for k in (a.id, b.id) for i in items_of(k)]
    assert sorted(pages) == [p.id for p in Page.select().order_by(Page.id)]
