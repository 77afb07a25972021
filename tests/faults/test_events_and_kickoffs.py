"""R16: events only for state that committed, once; a raising subscriber changes nothing.
And two kickoffs at once never put one page in two active jobs."""

from __future__ import annotations

import threading
from datetime import timedelta

import peewee
import pytest

from actors import send_steps
from seobatch import db, events, outbox
from seobatch.db import utcnow
from seobatch.errors import AlreadyRunning
from seobatch.jobmeta import ACTIVE_STATUSES
from seobatch.models import JOB_EVENTS, Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.recover import recover

from tests.faults import golden
from tests.faults.support import MODELS, golden_run, kickoff_run, run_ended, run_steps, wait_run
from tests.support.events import listening
from tests.support.pages import seed_pages
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


class Heard:
    """A module-level style receiver (blinker holds receivers weakly) that also checks,
    from another connection, that what it is told has committed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.uncommitted: list[tuple[str, int]] = []

    def __call__(self, sender, **data) -> None:
        seen = _status_elsewhere(data["job_id"])
        if seen != data["status"]:
            self.uncommitted.append((data["status"], data["job_id"]))
        self.events.append((data["status"], data["job_id"], data.get("error") or ""))


def _status_elsewhere(job_id: int) -> str:
    out: list[str] = []

    def read():
        db.database.connect(reuse_if_open=True)
        try:
            out.append(SeoBatchJob.get_by_id(job_id).status)
        finally:
            db.database.close()

    t = threading.Thread(target=read)
    t.start()
    t.join(10)
    return out[0] if out else "?"


@pytest.fixture
def heard():
    with listening(Heard()) as receiver:
        yield receiver


@pytest.fixture
def commit_fails_once(monkeypatch):
    """The transaction of the named event fails after its UPDATE and outbox INSERT ran
    (as a lost connection or a failed COMMIT would): everything in it rolls back."""
    real = outbox.record
    failed: list[str] = []

    def arm(name: str):
        def record(job, event_name, **extra):
            real(job, event_name, **extra)
            if event_name == name and not failed:
                failed.append(event_name)
                raise peewee.OperationalError("simulated: the server closed the connection during COMMIT")

        monkeypatch.setattr(outbox, "record", record)
        return failed

    return arm


@pytest.mark.parametrize("event", ["job_submitted", "job_completed"])
def test_r16_a_transaction_that_fails_after_its_state_change_sends_no_event(
    any_db, emulator, worker, settings, heard, commit_fails_once, event
):
    """R16: the transaction that moved the job (and wrote its outbox row) fails → no
    signal for that state, the row is as before; the stage's retry makes the move (a
    lost submit reconciles with the provider: still one batch) and the event is sent once."""
    want = golden_run(emulator, settings, 8)
    heard.events.clear()
    failed = commit_fails_once(event)
    job_id = kickoff_run(settings)
    send_steps(run_steps(job_id))
    wait_run(job_id)
    wait_for(lambda: len(heard.events) >= 2, timeout=30)  # receivers run right after the commit
    assert failed == [event]
    assert heard.uncommitted == []
    assert sorted(s for s, _, _ in heard.events) == ["completed", "processing"]
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    golden.assert_same(golden.snapshot(), want)
    golden.assert_events_once()


def _explode(sender, **data):
    raise RuntimeError("subscriber bug")


def test_r16_a_raising_subscriber_leaves_state_and_other_subscribers_alone(
    any_db, emulator, worker, settings, heard, canary_records
):
    """R16: one subscriber raises on every event → the others still hear each event once,
    the run's state is what it would be without it, the failure is logged, and each event
    waits for a retry of the raising subscriber alone (issue 11, finding 22)."""
    want = golden_run(emulator, settings, 6)
    heard.events.clear()
    for signal in events.SIGNALS.values():
        signal.connect(_explode)
    try:
        job_id = kickoff_run(settings)
        send_steps(run_steps(job_id))
        wait_for(lambda: run_ended(job_id), timeout=30)
        wait_for(lambda: len(heard.events) >= 2, timeout=30)
        wait_for(lambda: _job_events().where(SeoBatchEvent.last_error.is_null()).count() == 0,
                 timeout=30)
    finally:
        for signal in events.SIGNALS.values():
            signal.disconnect(_explode)
    assert [s for s, _, _ in heard.events] == ["processing", "completed"]
    assert sum("event subscriber" in t and "failed" in t for t in canary_records.texts) == 2
    golden.assert_same(golden.snapshot(), want)
    for event in _job_events():
        assert event.published_at is None and event.attempts == 1
        assert event.delivered_to == [f"{__name__}.Heard"]
        assert event.last_error.startswith(f"{__name__}._explode: RuntimeError")


def _job_events():
    """The job lifecycle rows (each completed job also has its pages_published row)."""
    return SeoBatchEvent.select().where(SeoBatchEvent.name.in_(JOB_EVENTS))


def test_r16_an_event_whose_delivery_died_with_its_process_is_delivered_once_by_recover(
    any_db, emulator, worker, settings, heard, monkeypatch
):
    """R16: the process died between commit and delivery (the outbox row is there, no
    signal went out) → the recovery sweep delivers it, once; a second sweep sends nothing."""
    real = outbox.deliver
    monkeypatch.setattr(outbox, "deliver", lambda event_id: False)  # "died" before delivering
    seed_pages(4)
    job_id = kickoff_run(settings)
    send_steps(run_steps(job_id))
    wait_for(lambda: SeoBatchJob.get_by_id(job_id).status == "completed")
    assert heard.events == [] and golden.undelivered_events() == 2
    monkeypatch.setattr(outbox, "deliver", real)
    later = utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(outbox, "utcnow", lambda: later)
    assert recover(settings=settings).events_delivered == 3  # and the job's pages_published
    assert recover(settings=settings).events_delivered == 0
    assert sorted(s for s, _, _ in heard.events) == ["completed", "processing"]
    assert SeoBatchEvent.select().where(SeoBatchEvent.published_at.is_null()).count() == 0


def _active_pages() -> list[int]:
    return [
        page for (page,) in SeoBatchItem.select(SeoBatchItem.page)
        .join(SeoBatchJob).where(SeoBatchJob.status.in_(ACTIVE_STATUSES) & (SeoBatchItem.status == "pending"))
        .tuples()
    ]


def test_two_kickoffs_at_once_never_put_a_page_in_two_active_jobs(any_db, emulator, settings):
    """Two runs (two models) kicked off and collected at the same moment → each page is
    pending in at most one active job; together they hold every page once. A second
    kickoff of a model that is still collecting is refused."""
    seed_pages(60)
    barrier = threading.Barrier(len(MODELS), timeout=30)
    job_ids: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(provider):
        db.database.connect(reuse_if_open=True)
        try:
            barrier.wait()
            job = kickoff(settings=settings, model=MODELS[provider]).job
            job_ids[provider] = job.id
            barrier.wait()
            collect(job.id, settings=settings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in MODELS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    pages = _active_pages()
    assert len(pages) == len(set(pages)) == 60
    # And a second kickoff of a model still collecting is refused, before any row exists
    SeoBatchJob.update(status="collecting").where(SeoBatchJob.id == job_ids["anthropic"]).execute()
    before = SeoBatchJob.select().count()
    with pytest.raises(AlreadyRunning):
        kickoff(settings=settings, model=MODELS["anthropic"])
    assert SeoBatchJob.select().count() == before
    assert Page.select().count() == 60
