"""The seed's SeoBatchJob contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import peewee
import pytest

from seobatch import db, events, outbox
from seobatch.errors import ValidationError
from seobatch.models import (
    ACTIVE_STATUSES,
    STATUSES,
    Page,
    SeoBatchEvent,
    SeoBatchItem,
    SeoBatchJob,
)


def make_page(n: int = 1, **kw) -> Page:
    page = Page(url=f"https://example.com/{n}", title=f"Page {n}", content="Body", **kw)
    page.save()
    return page


def make_job(status: str = "collecting", model: str = "claude-sonnet-4-5", pages: int = 0) -> SeoBatchJob:
    job = SeoBatchJob.create(model=model, status=status)
    for n in range(pages):
        page = make_page(n + 1000 * job.id)
        SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id))
    return job


def test_statuses_are_the_seeds():
    assert STATUSES == ("collecting", "submitting", "processing", "completed", "failed")
    assert SeoBatchJob.STATUSES == STATUSES


def test_new_job_has_the_seed_defaults(any_db):
    job = SeoBatchJob.create()
    row = SeoBatchJob.get_by_id(job.id)
    assert (row.model, row.status) == ("claude-sonnet-4-5", "collecting")
    assert (row.succeeded_count, row.errored_count, row.expired_count, row.total_pages) == (0, 0, 0, 0)
    assert row.ai_batch_id is None and row.submitted_at is None and row.completed_at is None
    assert row.created_at is not None and row.updated_at is not None


def test_database_defaults_apply_to_raw_inserts(any_db):
    # Given a row inserted without the model's Python defaults
    db.database.execute_sql(
        "INSERT INTO seo_batch_jobs (created_at, updated_at) VALUES (%s, %s)"
        if db.is_postgres()
        else "INSERT INTO seo_batch_jobs (created_at, updated_at) VALUES (?, ?)",
        (db.utcnow(), db.utcnow()),
    )
    row = SeoBatchJob.select().get()
    # Then the schema's own defaults fill it as the seed says
    assert (row.model, row.status, row.succeeded_count, row.total_pages) == (
        "claude-sonnet-4-5", "collecting", 0, 0)


def test_status_must_be_one_of_statuses(any_db):
    with pytest.raises(ValidationError, match="status 'done' is not one of"):
        SeoBatchJob.create(status="done")
    assert SeoBatchJob.select().count() == 0


def test_model_must_be_present(any_db):
    with pytest.raises(ValidationError, match="model can't be blank"):
        SeoBatchJob.create(model="  ")


def test_unknown_model_is_refused_at_creation(any_db):
    with pytest.raises(ValidationError, match="unknown model 'gpt-4o'"):
        SeoBatchJob.create(model="gpt-4o")


def test_updated_at_moves_on_save(any_db):
    job = SeoBatchJob.create()
    first = job.updated_at
    job.total_pages = 3
    job.save()
    assert SeoBatchJob.get_by_id(job.id).updated_at >= first


def test_scopes(any_db):
    jobs = {s: make_job(s) for s in STATUSES}
    assert {j.status for j in SeoBatchJob.active()} == set(ACTIVE_STATUSES)
    assert [j.id for j in SeoBatchJob.completed()] == [jobs["completed"].id]


def test_predicates(any_db):
    for status in STATUSES:
        job = make_job(status)
        flags = {s: getattr(job, f"is_{s}") for s in STATUSES}
        assert flags == {s: s == status for s in STATUSES}
    claude, gemini = make_job(model="claude-haiku-4-5"), make_job(model="gemini-2.5-flash")
    assert (claude.is_anthropic, claude.is_gemini) == (True, False)
    assert (gemini.is_anthropic, gemini.is_gemini) == (False, True)
    assert (claude.inferred_provider, gemini.inferred_provider) == ("anthropic", "gemini")


def test_mark_submitted_merges_metadata_and_counts_items(any_db):
    job = make_job("submitting", pages=3)
    job.metadata = {"run": "nightly"}
    job.save()
    assert job.mark_submitted(provider_batch_id="msgbatch_1", extra_metadata={"requests": 3})
    row = SeoBatchJob.get_by_id(job.id)
    assert row.status == "processing" and row.is_processing
    assert row.ai_batch_id == row.provider_batch_id == "msgbatch_1"
    assert row.total_pages == 3
    assert row.submitted_at is not None
    assert row.metadata == {"run": "nightly", "provider": "anthropic", "requests": 3}


def test_mark_submitted_takes_an_explicit_provider(any_db):
    job = make_job("submitting", model="gemini-2.5-flash")
    assert job.mark_submitted("batches/1", provider="gemini-files")
    assert SeoBatchJob.get_by_id(job.id).metadata["provider"] == "gemini-files"


def test_mark_completed_sets_counts_and_time(any_db):
    job = make_job("processing")
    assert job.mark_completed(succeeded=5, errored=2, expired=1)
    row = SeoBatchJob.get_by_id(job.id)
    assert (row.status, row.succeeded_count, row.errored_count, row.expired_count) == ("completed", 5, 2, 1)
    assert row.completed_at is not None


def test_mark_failed_keeps_metadata_and_records_error(any_db):
    job = make_job("processing")
    job.metadata = {"provider": "anthropic"}
    job.save()
    assert job.mark_failed("provider said no")
    row = SeoBatchJob.get_by_id(job.id)
    assert row.is_failed and row.completed_at is not None
    assert row.metadata == {"provider": "anthropic", "error": "provider said no"}


def test_transitions_only_happen_from_the_expected_state(any_db):
    job = make_job("collecting")
    assert not job.mark_completed(succeeded=1)  # not processing yet
    assert SeoBatchJob.get_by_id(job.id).status == "collecting"
    done = make_job("completed")
    assert not done.mark_failed("late message")
    assert SeoBatchJob.get_by_id(done.id).status == "completed"


def test_a_repeated_transition_loses(any_db):
    job = make_job("submitting")
    assert job.mark_submitted("msgbatch_a")
    stale = SeoBatchJob.get_by_id(job.id)
    stale.status = "submitting"  # a copy loaded before the first transition
    assert not stale.mark_submitted("msgbatch_b")
    assert SeoBatchJob.get_by_id(job.id).ai_batch_id == "msgbatch_a"


def test_concurrent_transitions_have_one_winner(any_db):
    # Given one job and two workers that both loaded it in 'submitting'
    job = make_job("submitting")
    url = any_db
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, bool] = {}

    def worker(batch_id: str) -> None:
        copy = SeoBatchJob.get_by_id(job.id)
        barrier.wait()
        results[batch_id] = copy.mark_submitted(batch_id)
        db.database.close()

    # When both transition at the same moment
    threads = [threading.Thread(target=worker, args=(f"batch_{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Then exactly one wins, and the row holds the winner's batch id
    assert sorted(results.values()) == [False, True]
    winner = next(k for k, v in results.items() if v)
    assert SeoBatchJob.get_by_id(job.id).ai_batch_id == winner
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_submitted").count() == 1
    assert url


def test_ai_batch_id_is_unique(any_db):
    make_job("processing").transition("processing", expected=["processing"], ai_batch_id="b1")
    other = make_job("processing")
    with pytest.raises(peewee.IntegrityError):
        with db.database.atomic():
            other.transition("processing", expected=["processing"], ai_batch_id="b1")


def test_deleting_a_job_deletes_its_items(any_db):
    job = make_job("collecting", pages=2)
    keep = make_job("collecting", pages=1)
    job.delete_instance()
    assert SeoBatchItem.select().count() == 1
    assert SeoBatchItem.get().job_id == keep.id


def test_custom_id_must_suit_both_providers(any_db):
    job, page = make_job(), make_page()
    for bad in ("", "a" * 65, "has space", "page:1", "a/b", "é"):
        with pytest.raises(ValidationError, match="custom_id"):
            SeoBatchItem.create(job=job, page=page, custom_id=bad)
    SeoBatchItem.create(job=job, page=page, custom_id="Ok_id-" + "x" * 58)


def test_custom_id_is_unique_within_a_job_only(any_db):
    page = make_page()
    a, b = make_job(), make_job()
    SeoBatchItem.create(job=a, page=page, custom_id="p1")
    SeoBatchItem.create(job=b, page=page, custom_id="p1")
    with pytest.raises(peewee.IntegrityError):
        with db.database.atomic():
            SeoBatchItem.create(job=a, page=page, custom_id="p1")


def test_page_hash_follows_content(any_db):
    page = make_page()
    first = page.content_hash
    page.content = "Changed"
    page.save()
    assert page.content_hash != first
    assert Page.get_by_id(page.id).content_hash == Page.hash_content("Page 1", "Changed")


def test_events_fire_after_commit_and_not_on_rollback(any_db):
    seen: list[tuple[str, int]] = []

    def receiver(sender, **data):
        seen.append(("completed", data["job_id"]))

    job = make_job("processing")
    with events.job_completed.connected_to(receiver):
        with pytest.raises(RuntimeError):
            with db.database.atomic():
                assert job.mark_completed(succeeded=1)
                assert seen == []  # not before commit
                raise RuntimeError("the surrounding transaction fails")
        assert seen == []
        assert SeoBatchJob.get_by_id(job.id).status == "processing"
        job = SeoBatchJob.get_by_id(job.id)
        with db.database.atomic():
            assert job.mark_completed(succeeded=1)
            assert seen == []
        assert seen == [("completed", job.id)]


def test_a_raising_subscriber_does_not_break_the_transition(any_db, caplog):
    calls = []

    def bad(sender, **data):
        raise RuntimeError("subscriber bug")

    def good(sender, **data):
        calls.append(data["error"])

    job = make_job("processing")
    with events.job_failed.connected_to(bad), events.job_failed.connected_to(good):
        assert job.mark_failed("boom")
    assert calls == ["boom"]
    assert SeoBatchJob.get_by_id(job.id).is_failed
    assert "subscriber bug" in caplog.text


def test_undelivered_events_are_delivered_once_by_the_sweep(any_db):
    from datetime import timedelta

    job = make_job("processing")
    seen = []

    def receiver(sender, **data):
        seen.append(sender.id)

    # Given an event committed by a process that died before delivering it
    with db.database.atomic():
        SeoBatchEvent.create(job=job, name="job_completed", payload=job.event_payload())
    # (the row above was not delivered: only record() schedules delivery)
    with events.job_completed.connected_to(receiver):
        assert outbox.deliver_pending(older_than=timedelta(0)) == 1
        assert outbox.deliver_pending(older_than=timedelta(0)) == 0
    assert seen == [job.id]
