"""Deadline-aware failover end to end against the emulator: a Gemini batch that never
leaves PENDING, a deadline an hour away, the pages finished by Claude."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from seobatch import db, events
from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.providers.gemini import GeminiBatches
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.failover import hand_over
from seobatch.stages.kickoff import kickoff
from seobatch.stages.poll import poll
from seobatch.stages.recover import recover
from seobatch.stages.results import results
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import drive, items_of, job, make_settings

PRIMARY, FALLBACK = "gemini-2.5-flash", "claude-sonnet-4-5"


class Heard:
    def __init__(self):
        self.calls = []

    def __call__(self, sender, **data):
        self.calls.append(data)


def test_a_stuck_gemini_batch_fails_over_to_claude_and_each_page_is_saved_once(any_db, emulator, capsys,
                                                                              monkeypatch):
    heard = Heard()
    events.job_failed_over.connect(heard)
    try:
        first_id = _stuck_gemini_fails_over(emulator, heard)
    finally:
        events.job_failed_over.disconnect(heard)
    monkeypatch.setenv("DATABASE_URL", any_db)
    assert main(["job", str(first_id)]) == 0
    out = capsys.readouterr().out
    assert "failover" in out and "stuck_pending" in out and "failover_job_id" in out


def _stuck_gemini_fails_over(emulator, heard):
    deadline = (utcnow() + timedelta(hours=1)).strftime("%H:%M UTC")
    settings = make_settings(emulator, model=PRIMARY, deadline=deadline,
                             failover_models=(("gemini", FALLBACK),))
    make_pages(5)
    emulator.set_faults(batch_outcome="stuck")
    first = kickoff(settings=settings).job
    emulator.advance(6 * 3600)  # six emulated hours later the batch is still PENDING
    drive([Step("collect", first.id)], settings)

    stuck = job(first.id)
    assert stuck.status == JobStatus.COMPLETED and stuck.succeeded_count == 0
    decision = stuck.metadata["failover"]
    assert decision["reason"] == "stuck_pending" and decision["to_model"] == FALLBACK
    assert decision["provider_state"] == "BATCH_STATE_PENDING" and decision["fallback_estimate"] == "prior"
    assert stuck.metadata["ending"] == "canceled"
    assert {i.status for i in items_of(first.id)} == {ItemStatus.CANCELED}

    fallback = job(stuck.metadata["failover_job_id"])
    assert fallback.model == FALLBACK and fallback.metadata["failover_of"] == first.id
    assert fallback.status == JobStatus.COMPLETED and fallback.succeeded_count == 5
    assert Page.select().where(Page.seo_model == FALLBACK).count() == 5
    # each page saved once: one succeeded item per page over both jobs, and no third job
    ok = SeoBatchItem.select().where(SeoBatchItem.status == ItemStatus.SUCCEEDED)
    assert sorted(i.page_id for i in ok) == sorted(p.id for p in Page.select())
    assert SeoBatchJob.select().count() == 2
    g, a = emulator.stats()["gemini"], emulator.stats()["anthropic"]
    assert (g["batches_created"], g["cancel"], a["batches_created"]) == (1, 1, 1)
    names = [e.name for e in SeoBatchEvent.select().where(SeoBatchEvent.job == first.id)]
    assert names.count("job_failed_over") == 1 and "job_completed" in names
    [data] = heard.calls
    assert data["job_id"] == first.id and data["failover_job_id"] == fallback.id
    assert data["failover_model"] == FALLBACK and data["reason"] == "stuck_pending" and data["event_id"]
    return first.id


def test_a_batch_on_time_is_left_alone(any_db, emulator):
    deadline = (utcnow() + timedelta(hours=12)).strftime("%H:%M UTC")
    settings = make_settings(emulator, model=PRIMARY, deadline=deadline,
                             failover_models=(("gemini", FALLBACK),))
    make_pages(3)
    first = kickoff(settings=settings).job
    drive([Step("collect", first.id)], settings)
    done = job(first.id)
    assert done.status == JobStatus.COMPLETED and done.succeeded_count == 3
    assert "failover" not in done.metadata and SeoBatchJob.select().count() == 1


class Killed(BaseException):
    """The worker dying: not an Exception, so nothing on the way catches it."""


def _die(self, batch):
    raise Killed("the worker died after the job completed, before the hand-over")


def test_a_hand_over_cut_short_by_a_crash_is_finished_by_the_sweep_exactly_once(any_db, emulator, monkeypatch):
    """The window between completing the stuck job and making its fallback job: the
    results stage dies there (in the provider-file cleanup that sits in it). A results
    message delivered again does nothing (the job is completed); the sweep finishes the
    hand-over, and a second sweep, racing threads or the stage itself make no other job."""
    deadline = (utcnow() + timedelta(hours=1)).strftime("%H:%M UTC")
    settings = make_settings(emulator, model=PRIMARY, deadline=deadline, claim_ttl=3,
                             failover_models=(("gemini", FALLBACK),))
    make_pages(4)
    emulator.set_faults(batch_outcome="stuck")
    first = kickoff(settings=settings).job
    monkeypatch.setattr(GeminiBatches, "delete_files", _die)
    with pytest.raises(Killed):
        drive([Step("collect", first.id)], settings)
    monkeypatch.undo()
    stuck = job(first.id)
    assert stuck.status == JobStatus.COMPLETED and "failover" in stuck.metadata
    assert "failover_job_id" not in stuck.metadata and SeoBatchJob.select().count() == 1
    # the killed worker's results message, delivered again: the job is completed, nothing happens
    assert results(first.id, settings=settings) == []
    # a sweep within SEOBATCH_CLAIM_TTL of the completion leaves it to the stage
    early = recover(settings=settings)
    assert early.steps == [] and SeoBatchJob.select().count() == 1
    assert any("no fallback job made yet" in line for line in early.lines())

    later = utcnow() + timedelta(seconds=5)
    with ThreadPoolExecutor(4) as pool:  # four sweeps at once
        found = list(pool.map(lambda _: _sweep(settings, later), range(4)))
    steps = [s for f in found for s in f]
    assert SeoBatchJob.select().count() == 2 and len(steps) == 1
    fallback = job(job(first.id).metadata["failover_job_id"])
    assert steps == [Step("collect", fallback.id)] and fallback.metadata["failover_of"] == first.id
    assert fallback.provider == "anthropic"
    assert recover(settings=settings, now=later).steps == [] and hand_over(first.id, settings) == []
    drive(steps, settings)
    assert job(fallback.id).status == JobStatus.COMPLETED and job(fallback.id).succeeded_count == 4
    ok = SeoBatchItem.select().where(SeoBatchItem.status == ItemStatus.SUCCEEDED)
    assert sorted(i.page_id for i in ok) == sorted(p.id for p in Page.select())
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    names = [e.name for e in SeoBatchEvent.select().where(SeoBatchEvent.job == first.id)]
    assert names.count("job_failed_over") == 1
    assert SeoBatchJob.select().count() == 2


def _sweep(settings, now):
    with db.connection():
        return recover(settings=settings, now=now).steps


def test_nothing_left_to_move_is_a_finished_hand_over(any_db, emulator):
    """A failover whose every page finished before the cancel landed makes no job, and
    the sweep does not look at it again."""
    settings = make_settings(emulator, model=PRIMARY)
    make_pages(2)
    first = kickoff(settings=settings).job
    drive([Step("collect", first.id)], settings)
    row = job(first.id)
    SeoBatchJob.update(metadata={**row.metadata, "failover": {"reason": "late", "to_model": FALLBACK}}).where(
        SeoBatchJob.id == first.id).execute()
    assert hand_over(first.id, settings) == []
    assert "failover_handed_over" in job(first.id).metadata
    later = utcnow() + timedelta(minutes=5)
    assert recover(settings=settings, now=later).lines() == ["nothing to recover: no active job"]


def test_a_cancel_that_never_lands_fails_the_job_after_the_settle_cap_and_moves_nothing(
        any_db, emulator, capsys, monkeypatch):
    """SEOBATCH_FAILOVER_SETTLE: the stuck batch accepts the cancel and runs on. Before
    the cap the job waits; past it the pages are not moved (they could be run and paid
    at both providers): the job fails with the reason, shown and heard."""
    deadline = (utcnow() + timedelta(hours=1)).strftime("%H:%M UTC")
    settings = make_settings(emulator, model=PRIMARY, deadline=deadline, failover_settle_minutes=20,
                             failover_models=(("gemini", FALLBACK),))
    make_pages(3)
    emulator.set_faults(batch_outcome="stuck", gemini_cancel_ignored=True)
    first = kickoff(settings=settings).job
    assert collect(first.id, settings=settings) == [Step("submit", first.id)]
    assert submit(first.id, settings=settings)[0].actor == "poll"
    heard = Heard()
    events.job_failed.connect(heard)
    try:
        t0 = utcnow()
        assert poll(first.id, settings=settings, now=t0)  # decides, cancels, polls on
        assert job(first.id).metadata["failover"]["reason"] == "stuck_pending"
        assert poll(first.id, settings=settings, now=t0 + timedelta(minutes=19))  # still within the cap
        assert job(first.id).status == JobStatus.PROCESSING
        assert poll(first.id, settings=settings, now=t0 + timedelta(minutes=21)) == []
    finally:
        events.job_failed.disconnect(heard)
    failed = job(first.id)
    assert failed.status == JobStatus.FAILED
    assert failed.metadata["error"].startswith("failover_unsettled: batch ")
    assert "could then be paid for twice" in failed.metadata["error"]
    decision = failed.metadata["failover"]
    assert decision["settle"] == "timeout" and decision["unsettled_state"] == "BATCH_STATE_PENDING"
    assert "failover_job_id" not in failed.metadata and SeoBatchJob.select().count() == 1
    assert recover(settings=settings, now=utcnow() + timedelta(hours=1)).steps == []
    g, a = emulator.stats()["gemini"], emulator.stats()["anthropic"]
    assert (g["cancel"], a["batches_created"]) == (1, 0)
    [data] = heard.calls
    assert data["job_id"] == first.id and data["error"].startswith("failover_unsettled")
    monkeypatch.setenv("DATABASE_URL", any_db)
    assert main(["job", str(first.id)]) == 0
    assert "failover_unsettled" in capsys.readouterr().out
