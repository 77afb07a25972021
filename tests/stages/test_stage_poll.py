"""poll: a fresh delayed message while the batch runs (growing waits), results once it ended."""

from __future__ import annotations

from datetime import timedelta

from seobatch import db
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.poll import poll, poll_delay
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import job, make_settings


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


class _RacingDuplicate:
    """The real client; while the first poll waits for the provider, a duplicate poll runs."""

    def __init__(self, real, job_id, settings, now):
        self.real, self.job_id, self.settings, self.now = real, job_id, settings, now
        self.name = real.name
        self.duplicate = None

    def get_batch(self, batch_id):
        if self.duplicate is None:
            self.duplicate = poll(self.job_id, settings=self.settings, provider=self.real, now=self.now)
        return self.real.get_batch(batch_id)


def test_two_poll_chains_due_at_once_collapse_into_one(any_db, emulator):
    from seobatch.providers import get_provider

    settings = make_settings(emulator, poll_interval=2, poll_max_interval=4)
    emulator.set_faults(processing_seconds=3600)
    job_id = _submitted(settings)
    now = db.utcnow() + timedelta(seconds=2)
    racing = _RacingDuplicate(get_provider(job(job_id).model, settings), job_id, settings, now)
    # Both messages read the same next_poll_at; only the first to write schedules a poll
    assert poll(job_id, settings=settings, provider=racing, now=now) == []
    assert racing.duplicate == [Step("poll", job_id, delay_ms=2000)]
    assert job(job_id).metadata["polls"] == 1


def test_an_overdue_batch_is_canceled_and_what_finished_is_saved(any_db, emulator):
    import time

    from seobatch.models import Page
    from seobatch.stages.results import results

    # Given a batch half done when the watchdog's deadline passes
    settings = make_settings(emulator)
    emulator.set_faults(processing_seconds=2)
    job_id = _submitted(settings, pages=20)
    time.sleep(1.0)
    now = job(job_id).submitted_at + timedelta(hours=30)
    # When it is polled past the deadline: canceled, and polled on (not failed)
    steps = poll(job_id, settings=settings, now=now)
    assert [s.actor for s in steps] == ["poll"]
    assert emulator.stats()["anthropic"]["cancel"] == 1 and job(job_id).status == "processing"
    # Then once the provider ends it, the results stage keeps what finished
    for _ in range(100):
        now += timedelta(seconds=settings.poll_max_interval + 1)
        steps = poll(job_id, settings=settings, now=now)
        if steps and steps[0].actor == "results":
            break
        time.sleep(0.05)
    assert steps == [Step("results", job_id)]
    results(job_id, settings=settings)
    row = job(job_id)
    assert row.status == "completed" and emulator.stats()["anthropic"]["cancel"] == 1
    assert 0 < row.succeeded_count < 20 and row.metadata["canceled_count"] > 0
    assert Page.select().where(Page.seo_title.is_null(False)).count() == row.succeeded_count
