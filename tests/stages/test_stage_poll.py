"""poll: a fresh delayed message while the batch runs (growing waits), results once it ended."""

from __future__ import annotations

from datetime import timedelta

from pipeline_support import job, make_pages, make_settings

from seobatch import db
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.poll import poll, poll_delay
from seobatch.stages.submit import submit


def _submitted(settings, pages=3) -> int:
    make_pages(pages)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    submit(j.id, settings=settings)
    return j.id


def test_poll_waits_grow_from_the_interval_to_the_cap():
    settings = make_settings(poll_interval=60, poll_max_interval=900)
    waits = [poll_delay(n, settings) for n in range(1, 10)]
    assert waits[0] == 60 and waits[1] == 90 and waits[2] == 135
    assert waits == sorted(waits) and waits[-1] == 900


def test_a_running_batch_is_polled_again_later_with_a_longer_wait(any_db, emulator):
    settings = make_settings(emulator, poll_interval=2, poll_max_interval=4)
    emulator.set_faults(processing_seconds=3600)
    job_id = _submitted(settings)
    now = db.utcnow() + timedelta(seconds=2)
    assert poll(job_id, settings=settings, now=now) == [Step("poll", job_id, delay_ms=2000)]
    now += timedelta(seconds=2)
    assert poll(job_id, settings=settings, now=now) == [Step("poll", job_id, delay_ms=3000)]
    now += timedelta(seconds=3)
    assert poll(job_id, settings=settings, now=now) == [Step("poll", job_id, delay_ms=4000)]
    meta = job(job_id).metadata
    assert meta["polls"] == 3 and meta["provider_state"] == "in_progress"


def test_an_early_duplicate_poll_does_nothing(any_db, emulator):
    settings = make_settings(emulator, poll_interval=60)
    emulator.set_faults(processing_seconds=3600)
    job_id = _submitted(settings)
    gets = emulator.stats()["anthropic"]["get"]
    # The first poll is due in 60 s; a message now is a duplicate of the live chain
    assert poll(job_id, settings=settings) == []
    assert emulator.stats()["anthropic"]["get"] == gets


def test_an_ended_batch_goes_to_results(any_db, emulator, settings):
    job_id = _submitted(settings)
    assert poll(job_id, settings=settings) == [Step("results", job_id)]
    meta = job(job_id).metadata
    assert meta["provider_state"] == "ended" and "next_poll_at" not in meta


def test_poll_of_a_job_not_processing_does_nothing(any_db, emulator, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    assert poll(j.id, settings=settings) == []
    assert poll(12345, settings=settings) == []
