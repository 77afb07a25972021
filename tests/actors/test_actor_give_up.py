"""When a stage gives up (retries exhausted, a permanent error), no paid batch is orphaned.

A submitting job whose create may have reached the provider is failed only once the
provider shows no batch for it; a processing job stays processing for the recovery
sweep. Real emulator over sockets, the in-process broker, SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import dramatiq

from actors import send_steps
from actors.failures import job_gave_up
from seobatch.db import utcnow
from seobatch.errors import TransientError
from seobatch.models import Page, SeoBatchEvent
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.recover import recover
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, ended, job, make_settings
from tests.support.waiting import wait_for


def _collected(settings, pages: int = 4) -> int:
    make_pages(pages)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    return j.id


def _gave_up(job_id: int, stage: str = "submit", error: str = "TransientError: anthropic 503") -> None:
    job_gave_up.fn({"args": [job_id], "actor_name": stage, "options": {"traceback": error}}, {"retries": 8})


def _unclear_create_then_list_down(emulator, settings, job_id: int, status: int) -> None:
    """The create's reply is lost (the batch exists) and the list endpoint answers ``status``."""
    emulator.set_faults(drop_create_response=1, http_errors={"list": [status] * 50})
    for _ in range(3):  # the actor's retries, every reconciliation hitting the outage
        try:
            submit(job_id, settings=settings)
        except TransientError:
            pass


def test_a_submit_that_gives_up_after_an_unclear_create_leaves_the_job_for_the_sweep(
    any_db, emulator, stub_worker, caplog, monkeypatch):
    # Given a create whose reply was dropped, then the provider's list down for the whole retry window
    settings = make_settings(emulator, http_retries=0)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    _unclear_create_then_list_down(emulator, settings, job_id, 503)
    # When the submit actor runs out of retries
    with caplog.at_level(logging.ERROR, logger="seobatch.worker"):
        _gave_up(job_id)
    # Then the job is not failed (its batch may be paid for) and an error line says why
    row = job(job_id)
    assert row.status == "submitting", row.metadata.get("error")
    assert "needs attention" in caplog.text and "recovery sweep" in caplog.text
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").count() == 0
    # And once the provider answers again, the sweep's submit adopts the one batch and the run ends
    emulator.set_faults(http_errors={})
    swept = recover(settings=settings, now=utcnow() + timedelta(seconds=settings.stale_after + 60))
    assert [(s.actor, s.job_id) for s in swept.steps] == [("submit", job_id)]
    send_steps(swept.steps)
    wait_for(lambda: ended([job_id]))
    row = job(job_id)
    assert row.status == "completed" and row.metadata["reconciled"] is True
    stats = emulator.stats()["anthropic"]
    assert (stats["batches_created"], stats["cancel"]) == (1, 0)
    assert Page.select().where(Page.seo_title.is_null()).count() == 0


def test_a_permanent_error_from_the_lookup_after_an_unclear_create_does_not_fail_the_job(
    any_db, emulator, stub_worker, caplog, monkeypatch):
    # Given a create whose reply was dropped, and a list that answers 403
    settings = make_settings(emulator, http_retries=0)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    emulator.set_faults(drop_create_response=1, http_errors={"list": [403] * 50})
    # When the submit actor runs into the permanent error
    with caplog.at_level(logging.ERROR, logger="seobatch.worker"):
        dramatiq.get_broker().get_actor("submit").send(job_id)
        wait_for(lambda: "needs attention" in caplog.text)
        stub_worker[0].join("seobatch", fail_fast=False)
    # Then the job stays submitting for the sweep instead of failing with a paid batch
    assert job(job_id).status == "submitting"
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").count() == 0


def test_a_submit_that_gives_up_while_its_batch_is_listed_adopts_the_batch(any_db, emulator, stub_worker, monkeypatch):
    settings = make_settings(emulator, http_retries=0)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    _unclear_create_then_list_down(emulator, settings, job_id, 503)
    emulator.set_faults(http_errors={})
    # The give-up's own look finds the batch: adopted, polled, results saved
    _gave_up(job_id)
    wait_for(lambda: ended([job_id]))
    assert job(job_id).status == "completed"
    assert emulator.stats()["anthropic"]["batches_created"] == 1


def test_a_submit_that_gives_up_with_no_batch_at_the_provider_fails_the_job(any_db, emulator, stub_worker, monkeypatch):
    # Given every create refused with 503 after it may have arrived (ambiguous), none made
    settings = make_settings(emulator, http_retries=0)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    emulator.set_faults(http_errors={"create": [529] * 50})
    for _ in range(2):
        try:
            submit(job_id, settings=settings)
        except TransientError:
            pass
    # When the retries run out, the provider's list shows no batch: failing loses nothing
    _gave_up(job_id, error=f"TransientError: anthropic 529 overloaded {TEST_KEY}")
    row = job(job_id)
    assert row.status == "failed" and row.metadata["error"].startswith("submit gave up after 8 retries")
    assert TEST_KEY not in row.metadata["error"]
    assert emulator.stats()["anthropic"]["batches_created"] == 0


def test_a_create_the_provider_refused_fails_the_job_at_once_without_a_lookup(any_db, emulator, stub_worker, monkeypatch):
    # Given a settle time (a batch created a moment ago may not be listed yet) and a 400 on
    # create: the provider answered, so no batch exists (a 529 that outlives the retries is
    # looked for: test_stage_giveup)
    settings = make_settings(emulator, http_retries=0, submit_settle_seconds=30)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    emulator.set_faults(http_errors={"create": [400]})
    dramatiq.get_broker().get_actor("submit").send(job_id)
    # Then the job is failed at once, with the provider's reply, and nothing was looked up
    wait_for(lambda: ended([job_id]), timeout=15)
    row = job(job_id)
    assert row.status == "failed" and row.metadata["error"].startswith("submit: anthropic 400")
    assert emulator.stats()["anthropic"].get("list", 0) == 0


def _submitted(settings) -> int:
    make_pages(2)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    submit(j.id, settings=settings)
    return j.id


def _run_out_of_retries(emulator, stub_worker, actor: str, operation: str, job_id: int) -> None:
    """``actor`` sent once with no retries, while the provider answers ``operation`` with 503s."""
    emulator.set_faults(http_errors={operation: [503] * 20}, retry_after=0.01)
    dramatiq.get_broker().get_actor(actor).send_with_options(args=(job_id,), max_retries=0)
    wait_for(lambda: emulator.stats()["anthropic"][operation] >= 5)
    stub_worker[0].join("seobatch", fail_fast=False)


def test_a_poll_that_runs_out_of_retries_leaves_the_paid_job_to_the_sweep(any_db, emulator, stub_worker, settings):
    # Given a submitted job and a provider whose batch endpoint is down
    job_id = _submitted(settings)
    # When its poll runs out of retries
    _run_out_of_retries(emulator, stub_worker, "poll", "get", job_id)
    # Then the job is still processing (its batch is paid for), not failed
    assert job(job_id).status == "processing" and "error" not in job(job_id).metadata
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").count() == 0
    # And the recovery sweep polls it again once the provider is back: results saved
    emulator.set_faults(http_errors={})
    swept = recover(settings=settings, now=utcnow() + timedelta(seconds=settings.stale_after + 3600))
    assert [(s.actor, s.job_id) for s in swept.steps] == [("poll", job_id)]
    send_steps(swept.steps)
    wait_for(lambda: ended([job_id]))
    assert job(job_id).status == "completed" and job(job_id).succeeded_count == 2


def test_results_that_run_out_of_retries_leave_the_paid_job_to_the_sweep(any_db, emulator, stub_worker, settings):
    job_id = _submitted(settings)
    _run_out_of_retries(emulator, stub_worker, "results", "results", job_id)
    assert job(job_id).status == "processing"
    emulator.set_faults(http_errors={})
    send_steps(recover(settings=settings, now=utcnow() + timedelta(seconds=settings.stale_after + 3600)).steps)
    wait_for(lambda: ended([job_id]))
    assert job(job_id).status == "completed"


def test_a_collect_that_runs_out_of_retries_still_fails_the_job(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    _gave_up(j.id, stage="collect", error="OperationalError: database is locked")
    row = job(j.id)
    assert row.status == "failed" and row.metadata["error"].startswith("collect gave up after 8 retries")


def test_a_second_look_queued_the_old_way_still_fails_the_job_once(any_db, emulator, stub_worker, monkeypatch):
    # Given a submit that gave up with no batch at the provider, and a second look in the
    # message shape the previous release queued (job_gave_up with recheck)
    settings = make_settings(emulator, http_retries=0)
    from actors.broker import runtime

    monkeypatch.setattr(runtime, "settings", settings)
    job_id = _collected(settings)
    emulator.set_faults(http_errors={"create": [529] * 50})
    try:
        submit(job_id, settings=settings)
    except TransientError:
        pass
    # When it runs, it is the submit's last look: no batch listed, the job fails with its reason
    job_gave_up.fn({"args": [job_id], "actor_name": "submit"}, {"reason": "submit: anthropic 529", "recheck": True})
    row = job(job_id)
    assert row.status == "failed" and row.metadata["error"] == "submit: anthropic 529"
