"""The event outbox: delivered after commit, once per transition while processes live,
again after a process died mid-delivery (with the same ``event_id``), never lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import peewee
import pytest

from seobatch import db, events, outbox
from seobatch.models import SeoBatchEvent, SeoBatchJob

pytestmark = pytest.mark.timeout(60)


class Died(BaseException):
    """What SIGKILL or a hard time limit looks like to the code it interrupts."""


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def __call__(self, sender, **data) -> None:
        with self.lock:
            self.calls.append((data["job_id"], data["event_id"]))


@pytest.fixture
def heard():
    receiver = Heard()
    for signal in events.SIGNALS.values():
        signal.connect(receiver)
    try:
        yield receiver
    finally:
        for signal in events.SIGNALS.values():
            signal.disconnect(receiver)


def _later(monkeypatch, delta: timedelta) -> None:
    then = db.utcnow() + delta
    monkeypatch.setattr(outbox, "utcnow", lambda: then)


def _unpublished() -> int:
    return SeoBatchEvent.select().where(SeoBatchEvent.published_at.is_null()).count()


def test_a_process_that_dies_after_claiming_an_event_does_not_lose_it(any_db, heard, monkeypatch):
    # Given a delivery that claimed its row and died before the receivers ran
    real_send = events.send

    def dying_send(*args, **kwargs):
        raise Died()

    monkeypatch.setattr(events, "send", dying_send)
    job = SeoBatchJob.create(status="processing")
    with pytest.raises(Died):
        job.mark_failed("boom")
    monkeypatch.setattr(events, "send", real_send)
    event = SeoBatchEvent.get()
    assert event.claimed_until is not None and event.published_at is None
    # When the sweep runs while the lease still holds, it leaves the row alone
    _later(monkeypatch, timedelta(minutes=1))
    assert outbox.deliver_pending() == 0
    assert heard.calls == []
    # Then once the lease ran out the sweep delivers it, with the row's id, once
    _later(monkeypatch, outbox.LEASE + timedelta(minutes=1))
    assert outbox.deliver_pending() == 1
    assert outbox.deliver_pending() == 0
    assert heard.calls == [(job.id, event.id)]
    assert SeoBatchEvent.get_by_id(event.id).published_at is not None


@pytest.mark.parametrize("dies_on", ["delivered_to", "published_at"])
def test_a_process_that_dies_after_a_receiver_returned_redelivers_at_most_to_unrecorded_ones(
    any_db, heard, monkeypatch, dies_on
):
    # Given the receiver returned but the process died before its return was recorded
    # (delivered_to) or before the row was marked published (published_at)
    real_update = SeoBatchEvent.update

    def update(*args, **kwargs):
        if dies_on in kwargs:
            raise Died()
        return real_update(*args, **kwargs)

    monkeypatch.setattr(SeoBatchEvent, "update", update)
    job = SeoBatchJob.create(status="processing")
    with pytest.raises(Died):
        job.mark_completed(succeeded=1)
    monkeypatch.setattr(SeoBatchEvent, "update", real_update)
    # When the sweep delivers it again after the lease
    _later(monkeypatch, outbox.LEASE + timedelta(seconds=1))
    assert outbox.deliver_pending() == 1
    event_id = SeoBatchEvent.get().id
    # Then a receiver whose return was recorded is not called again; one whose return was
    # lost hears the event twice, with the same event_id to dedupe on
    times = 2 if dies_on == "delivered_to" else 1
    assert heard.calls == [(job.id, event_id)] * times
    assert _unpublished() == 0


def test_concurrent_sweeps_deliver_each_event_once(any_db, heard, monkeypatch):
    # Given several committed events whose delivery never happened
    jobs = [SeoBatchJob.create(status="processing") for _ in range(6)]
    with db.database.atomic():
        for job in jobs:
            SeoBatchEvent.create(job=job, name="job_completed", payload=job.event_payload())
    _later(monkeypatch, timedelta(minutes=1))
    # When four sweeps run at the same moment, each on its own connection
    barrier = threading.Barrier(4, timeout=30)
    delivered: list[int] = []
    errors: list[BaseException] = []

    def sweep():
        try:
            with db.connection():
                barrier.wait()
                delivered.append(outbox.deliver_pending())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Then each event reached the receivers exactly once between them
    assert errors == []
    assert sum(delivered) == 6
    assert sorted(job_id for job_id, _ in heard.calls) == sorted(job.id for job in jobs)
    assert len({event_id for _, event_id in heard.calls}) == 6
    assert _unpublished() == 0


def test_a_database_error_while_delivering_does_not_escape_mark_completed(
    any_db, heard, monkeypatch, caplog
):
    # Given the delivery after commit fails on the database
    real_deliver = outbox.deliver

    def broken(event_id):
        raise peewee.OperationalError("simulated: the server closed the connection")

    monkeypatch.setattr(outbox, "deliver", broken)
    job = SeoBatchJob.create(status="processing")
    # When the job completes, the caller sees the transition it won, not the error
    assert job.mark_completed(succeeded=3) is True
    assert SeoBatchJob.get_by_id(job.id).is_completed
    assert heard.calls == []
    assert "not delivered after commit" in caplog.text
    # Then the sweep delivers the event later, once
    monkeypatch.setattr(outbox, "deliver", real_deliver)
    _later(monkeypatch, timedelta(minutes=1))
    assert outbox.deliver_pending() == 1
    assert outbox.deliver_pending() == 0
    assert [job_id for job_id, _ in heard.calls] == [job.id]


def test_a_repeated_delivery_of_a_published_event_sends_nothing(any_db, heard):
    job = SeoBatchJob.create(status="processing")
    assert job.mark_failed("boom")
    event = SeoBatchEvent.get()
    assert heard.calls == [(job.id, event.id)]
    assert outbox.deliver(event.id) is None
    assert heard.calls == [(job.id, event.id)]
