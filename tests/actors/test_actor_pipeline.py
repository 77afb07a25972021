"""The actors on the in-process broker: the whole pipeline, events, errors, duplicates."""

from __future__ import annotations

import threading

import dramatiq
import pytest

from actors import send_steps
from actors.failures import job_gave_up
from seobatch import events
from seobatch.models import JOB_EVENTS, Page, SeoBatchEvent
from seobatch.runs import run_chain
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, ended, items_of, job, make_settings
from tests.support.waiting import wait_for


def _run(settings, **kw) -> int:
    started = kickoff(settings=settings, **kw)
    send_steps(started.steps)
    return started.job.id


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash"])
def test_the_whole_pipeline_runs_on_the_in_process_broker(sqlite_db, emulator, stub_worker, settings, model):
    make_pages(15)
    job_id = _run(settings, model=model)
    wait_for(lambda: ended([job_id]))
    row = job(job_id)
    assert (row.status, row.succeeded_count, row.total_pages) == ("completed", 15, 15)
    assert isinstance(row.metadata["cost_usd"], float) and row.metadata["cost_usd"] > 0
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    provider = "anthropic" if model.startswith("claude") else "gemini"
    assert emulator.stats()[provider]["batches_created"] == 1


def test_events_fire_once_per_transition_after_commit(any_db, emulator, stub_worker, settings):
    # Given a counting subscriber and one that always raises
    counts: dict[str, list[int]] = {"job_submitted": [], "job_completed": [], "job_failed": []}
    lock = threading.Lock()

    committed: list[bool] = []

    def count(sender, **data):
        # After commit: the row (read on another connection) already shows what the event says
        committed.append(_status_elsewhere(data["job_id"]) == data["status"])
        with lock:
            counts[_name(data)].append(data["job_id"])

    def explode(sender, **data):
        raise RuntimeError("subscriber bug")

    settings_split = make_settings(emulator, batch_max_requests=4, submit_lease_seconds=2)
    from actors.broker import runtime

    runtime.settings = settings_split
    make_pages(10)
    with events.job_submitted.connected_to(count), events.job_completed.connected_to(count), \
            events.job_submitted.connected_to(explode), events.job_completed.connected_to(explode):
        first = _run(settings_split)
        wait_for(lambda: len(run_chain(first)) == 4 and ended(run_chain(first)))
        ids = run_chain(first)
        wait_for(lambda: len(counts["job_completed"]) == 4, timeout=30)
    # Then each of the four jobs (4, 3, 2, 1 items: a split run's jobs differ in size) was announced submitted once and completed once
    assert sorted(counts["job_submitted"]) == ids and sorted(counts["job_completed"]) == ids
    assert counts["job_failed"] == [] and committed and all(committed)
    # And each event waits for a retry of the raising receiver only: the one that returned
    # is recorded (written just after the receivers return, on the worker's thread)
    # (the job events: each job's pages_published has no raising receiver and is delivered)
    job_events = SeoBatchEvent.select().where(SeoBatchEvent.name.in_(JOB_EVENTS))
    wait_for(lambda: job_events.where(SeoBatchEvent.last_error.is_null()).count() == 0, timeout=30)
    assert job_events.count() == 8
    for event in job_events:
        assert event.published_at is None and event.attempts == 1
        assert len(event.delivered_to) == 1 and "explode: RuntimeError: subscriber bug" in event.last_error
    assert [len(items_of(i)) for i in ids] == [4, 3, 2, 1]


def _status_elsewhere(job_id: int) -> str:
    """The job's status as another connection (thread) sees it: only committed state."""
    out: list[str] = []

    def read():
        from seobatch import db

        db.database.connect(reuse_if_open=True)
        try:
            out.append(job(job_id).status)
        finally:
            db.database.close()

    t = threading.Thread(target=read)
    t.start()
    t.join(10)
    return out[0] if out else "?"


def _name(data) -> str:
    return {"processing": "job_submitted", "completed": "job_completed", "failed": "job_failed"}[data["status"]]


def test_a_permanent_error_fails_the_job_at_once(any_db, emulator, stub_worker, settings):
    emulator.set_faults(http_errors={"create": [400]})
    make_pages(2)
    failed = []
    with events.job_failed.connected_to(lambda sender, **kw: failed.append(kw["error"])):
        job_id = _run(settings)
        wait_for(lambda: ended([job_id]))
        wait_for(lambda: failed, timeout=30)
    row = job(job_id)
    assert row.status == "failed" and row.metadata["error"].startswith("submit: anthropic 400")
    assert emulator.stats()["anthropic"]["create"] == 1  # not retried
    assert len(failed) == 1


def test_job_gave_up_keeps_secrets_out_of_the_reason(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    job_gave_up.fn(
        {"args": [j.id], "actor_name": "submit",
         "options": {"traceback": f"Traceback...\nTransientError: boom with {TEST_KEY} and sk-ant-abcdefgh123\n"}},
        {"retries": 8, "max_retries": 8},
    )
    error = job(j.id).metadata["error"]
    assert error.startswith("submit gave up after 8 retries: TransientError: boom")
    assert TEST_KEY not in error and "sk-ant-abcdefgh123" not in error


def test_an_ambiguous_create_through_the_actors_makes_one_batch(any_db, emulator, stub_worker, settings):
    emulator.set_faults(drop_create_response=1)
    make_pages(6)
    job_id = _run(settings)
    wait_for(lambda: ended([job_id]))
    assert job(job_id).status == "completed" and job(job_id).metadata["reconciled"] is True
    assert emulator.stats()["anthropic"]["batches_created"] == 1


def test_a_submit_delivered_twice_at_once_and_again_later_sends_one_batch(any_db, emulator, stub_worker, settings):
    # Given a collected job and a create that takes a moment
    make_pages(5)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    emulator.set_faults(delay={"create": 0.5})
    # When the submit message is delivered twice at once (two worker threads)
    dramatiq.get_broker().get_actor("submit").send(j.id)
    dramatiq.get_broker().get_actor("submit").send(j.id)
    wait_for(lambda: ended([j.id]))
    # And once more after the job completed
    dramatiq.get_broker().get_actor("submit").send(j.id)
    stub_worker[0].join("seobatch", fail_fast=False)
    # Then one batch was created and the job completed once
    assert job(j.id).status == "completed" and job(j.id).metadata["submit_attempts"] == 1
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_completed").count() == 1


def test_the_cost_guard_stops_a_run_before_it_is_sent(any_db, emulator, stub_worker, settings):
    make_pages(3)
    job_id = _run(settings, max_cost=0.000001)
    wait_for(lambda: ended([job_id]))
    assert job(job_id).status == "failed" and "max cost" in job(job_id).metadata["error"]
    assert emulator.stats()["anthropic"]["create"] == 0
