"""recover: stalled jobs get their stage again; cancel: stop a job where it stands."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from seobatch import db, events
from seobatch.errors import SeobatchError
from seobatch.models import SeoBatchEvent, SeoBatchJob
from seobatch.stages import Step
from seobatch.stages.cancel import cancel
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.poll import poll
from seobatch.stages.recover import recover
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import drive, items_of, job, make_settings


def _age(job_id: int, seconds: int, **meta) -> None:
    row = job(job_id)
    SeoBatchJob.update(
        updated_at=db.utcnow() - timedelta(seconds=seconds), metadata={**(row.metadata or {}), **meta}
    ).where(SeoBatchJob.id == job_id).execute()


def test_recover_enqueues_the_stage_of_each_stalled_job_and_nothing_else(any_db):
    settings = make_settings(stale_after=600, claim_ttl=45)
    now = db.utcnow()
    collecting = SeoBatchJob.create(status="collecting")
    submitting = SeoBatchJob.create(status="submitting")
    leased = SeoBatchJob.create(status="submitting")
    processing = SeoBatchJob.create(status="processing", ai_batch_id="b1")
    waiting = SeoBatchJob.create(status="processing", ai_batch_id="b2")
    fresh = SeoBatchJob.create(status="collecting", model="gemini-2.5-flash")
    done = SeoBatchJob.create(status="completed")
    for j in (collecting, submitting, done):
        _age(j.id, 700)  # unclaimed past SEOBATCH_STALE_AFTER
    _age(leased.id, 700, submit_lease_until=(now + timedelta(minutes=5)).isoformat())
    _age(processing.id, 1600, next_poll_at=(now - timedelta(seconds=60)).isoformat())  # a dead chain
    _age(waiting.id, 1000, next_poll_at=(now + timedelta(seconds=600)).isoformat())  # polled later
    found = recover(settings=settings)
    assert found.steps == [
        Step("collect", collecting.id), Step("submit", submitting.id), Step("poll", processing.id),
    ]
    assert fresh.id not in [s.job_id for s in found.steps]
    assert any("collect enqueued again" in line for line in found.lines())
    assert len(found.lines()) == 6  # one line per active job, acted on or not


def test_recover_delivers_events_whose_delivery_died(any_db):
    j = SeoBatchJob.create(status="processing")
    SeoBatchEvent.create(job=j.id, name="job_completed", payload={"job_id": j.id},
                         created_at=db.utcnow() - timedelta(minutes=5))
    seen = []
    with events.job_completed.connected_to(lambda sender, **kw: seen.append(kw["job_id"])):
        assert recover(settings=make_settings()).events_delivered == 1
        assert recover(settings=make_settings()).events_delivered == 0
    assert seen == [j.id]


def test_a_lost_message_in_each_state_is_recovered_to_completion(any_db, emulator, settings):
    # Given a run whose every message is lost after its stage committed
    make_pages(5)
    j = kickoff(settings=settings).job
    late = db.utcnow() + timedelta(hours=2)
    collect(j.id, settings=settings)  # the submit message is lost
    assert recover(settings=settings, now=late).steps == [Step("submit", j.id)]
    submit(j.id, settings=settings)   # the poll message is lost
    assert recover(settings=settings, now=late).steps == [Step("poll", j.id)]
    poll(j.id, settings=settings)     # the results message is lost
    steps = recover(settings=settings, now=late).steps
    assert steps == [Step("results", j.id)]
    drive(steps, settings)
    assert job(j.id).status == "completed" and job(j.id).succeeded_count == 5
    assert emulator.stats()["anthropic"]["batches_created"] == 1


def test_cancel_before_submission_fails_the_job(any_db, emulator, settings):
    make_pages(2)
    j = kickoff(settings=settings).job
    failed = []
    with events.job_failed.connected_to(lambda sender, **kw: failed.append(kw["error"])):
        done = cancel(j.id, settings=settings)
    assert "canceled before submission" in done.message and done.steps == []
    assert job(j.id).status == "failed" and failed == ["canceled by operator"]
    assert collect(j.id, settings=settings) == []  # a late collect message does nothing


def test_cancel_of_a_processing_job_stops_the_batch_and_keeps_what_finished(any_db, emulator, settings):
    emulator.set_faults(processing_seconds=3600)
    make_pages(4)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    submit(j.id, settings=settings)
    done = cancel(j.id, settings=settings)
    assert done.steps == [Step("poll", j.id)]
    assert job(j.id).metadata["cancel_requested"]
    emulator.advance(1000)  # the provider takes a while to stop in-flight work
    drive(done.steps, settings)
    row = job(j.id)
    assert row.status == "completed" and row.metadata["ending"] == "canceled"
    assert row.succeeded_count + row.expired_count == 4
    # The canceled count agrees with what the provider itself reports for the batch
    reported = requests.get(
        f"{emulator.url}/v1/messages/batches/{row.ai_batch_id}",
        headers={"x-api-key": "test-key", "anthropic-version": "2023-06-01"}, timeout=30,
    ).json()["request_counts"]
    assert reported["canceled"] >= 1
    assert row.metadata["canceled_count"] == reported["canceled"]
    assert row.succeeded_count == reported["succeeded"]
    assert sum(i.status == "canceled" for i in items_of(j.id)) == reported["canceled"]
    assert emulator.stats()["anthropic"]["cancel"] == 1


def test_cancel_of_an_ended_job_is_an_error(any_db, settings):
    j = SeoBatchJob.create(status="completed")
    with pytest.raises(SeobatchError, match="already completed"):
        cancel(j.id, settings=settings)
    with pytest.raises(SeobatchError, match="no job 999"):
        cancel(999, settings=settings)
