"""Deadline-aware failover end to end against the emulator: a Gemini batch that never
leaves PENDING, a deadline an hour away, the pages finished by Claude."""

from __future__ import annotations

from datetime import timedelta

from seobatch import events
from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff

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
