"""The give-up policy, without a broker: what a stage that gave up on a job decides.

The actors only translate the returned ``GiveUp`` into messages; every decision is here.
Real emulator over sockets, SQLite and PostgreSQL.
"""

from __future__ import annotations

from pipeline_support import job, make_pages, make_settings

from seobatch.errors import TransientError
from seobatch.jobmeta import JobStatus
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.giveup import give_up
from seobatch.stages.jobstate import DONE, GiveUp
from seobatch.stages.kickoff import kickoff
from seobatch.stages.submit import Adopted, NotFound, look_for_batch, submit


def _collected(settings, pages: int = 3) -> int:
    make_pages(pages)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    return j.id


def test_a_collect_that_gives_up_fails_its_job(any_db, emulator):
    settings = make_settings(emulator)
    make_pages(1)
    j = kickoff(settings=settings).job
    assert give_up(j.id, "collect", "collect gave up after 5 retries", settings=settings, permanent=False) == DONE
    assert job(j.id).status == JobStatus.FAILED


def test_a_poll_out_of_retries_leaves_the_paid_job_processing_but_a_permanent_error_fails_it(any_db, emulator):
    settings = make_settings(emulator)
    job_id = _collected(settings)
    submit(job_id, settings=settings)
    assert give_up(job_id, "poll", "poll gave up", settings=settings, permanent=False) == DONE
    assert job(job_id).status == JobStatus.PROCESSING
    assert give_up(job_id, "poll", "poll: anthropic 404", settings=settings, permanent=True) == DONE
    assert job(job_id).status == JobStatus.FAILED


def test_a_submit_that_never_sent_a_create_fails_at_once(any_db, emulator):
    settings = make_settings(emulator)
    job_id = _collected(settings)
    assert look_for_batch(job_id, settings=settings) == NotFound()
    assert give_up(job_id, "submit", "submit: bad key", settings=settings, permanent=True) == DONE
    assert job(job_id).status == JobStatus.FAILED


def test_a_submit_that_gives_up_right_after_a_create_asks_for_one_more_look_then_fails(any_db, emulator):
    # Given a create refused with 529 after it was sent (so it may have reached the provider)
    settings = make_settings(emulator, http_retries=0, submit_settle_seconds=30)
    job_id = _collected(settings)
    emulator.set_faults(http_errors={"create": [529]})
    try:
        submit(job_id, settings=settings)
    except TransientError:
        pass
    # When submit gives up within the settle time: no verdict yet, one more look asked for
    first = give_up(job_id, "submit", "submit gave up", settings=settings, permanent=False)
    assert first.steps == () and first.look_again_ms is not None and 29_000 < first.look_again_ms <= 30_001
    assert job(job_id).status == JobStatus.SUBMITTING
    # Then the second look, finding nothing again, fails the job
    from seobatch.stages.submit import give_up as give_up_submit

    assert give_up_submit(job_id, "submit gave up", settings=settings, recheck=True) == DONE
    assert job(job_id).status == JobStatus.FAILED
    assert emulator.stats()["anthropic"]["batches_created"] == 0


def test_a_submit_that_gives_up_while_its_batch_is_listed_adopts_it(any_db, emulator):
    # Given a create whose reply was lost: the batch exists, the job does not know it
    settings = make_settings(emulator, http_retries=0)
    job_id = _collected(settings)
    emulator.set_faults(drop_create_response=1, http_errors={"list": [503] * 3})
    for _ in range(2):
        try:
            submit(job_id, settings=settings)
        except TransientError:
            pass
    emulator.set_faults(http_errors={})
    # When submit gives up, its look finds the batch: adopted, the first poll returned
    outcome = give_up(job_id, "submit", "submit gave up", settings=settings, permanent=False)
    assert outcome == GiveUp(steps=(Step("poll", job_id, delay_ms=settings.poll_interval * 1000),))
    assert job(job_id).status == JobStatus.PROCESSING
    assert isinstance(look_for_batch(job_id, settings=settings), Adopted)  # already handled: no steps
    assert emulator.stats()["anthropic"]["batches_created"] == 1
