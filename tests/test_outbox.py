"""The event outbox: delivered after commit, once per transition while processes live,
again after a process died mid-delivery (with the same ``event_id``), never lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import peewee
import pytest

from seobatch import db, events, outbox
from seobatch.config import Settings
from seobatch.models import SeoBatchEvent, SeoBatchJob

from tests.support.events import listening

#: The default SEOBATCH_EVENT_LEASE.
LEASE = timedelta(seconds=Settings.from_env({}).event_lease_seconds)

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
    with listening(Heard()) as receiver:
        yield receiver


def _later(monkeypatch, delta: timedelta) -> None:
    then = db.utcnow() + delta
    monkeypatch.setattr(outbox, "utcnow", lambda: then)


def _dying_send(*args, **kwargs):
    raise Died()


def _unpublished() -> int:
    return SeoBatchEvent.select().where(SeoBatchEvent.published_at.is_null()).count()


def test_a_process_that_dies_after_claiming_an_event_does_not_lose_it(any_db, heard, monkeypatch):
    # Given a delivery that claimed its row and died before the receivers ran
    real_send = events.send
    monkeypatch.setattr(events, "send", _dying_send)
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
    _later(monkeypatch, LEASE + timedelta(minutes=1))
    assert outbox.deliver_pending() == 1
    assert outbox.deliver_pending() == 0
    assert heard.calls == [(job.id, event.id)]
    assert SeoBatchEvent.get_by_id(event.id).published_at is not None


def test_a_dead_delivery_is_sent_again_after_the_configured_lease(any_db, heard, monkeypatch):
    short = Settings.from_env({"SEOBATCH_EVENT_LEASE": "10"})
    real_send = events.send
    # Given an event whose delivery (with a 10 s lease) died holding it
    monkeypatch.setattr(events, "send", _dying_send)
    job = SeoBatchJob.create(status="processing")
    with pytest.raises(Died):
        job.mark_failed("boom")
    event = SeoBatchEvent.get()
    SeoBatchEvent.update(claimed_until=None).execute()
    with pytest.raises(Died):
        outbox.deliver(event.id, settings=short)
    monkeypatch.setattr(events, "send", real_send)
    # Then the sweep leaves it alone within the 10 s and delivers it just after, not 5 min
    _later(monkeypatch, timedelta(seconds=5))
    assert outbox.deliver_pending(settings=short) == 0
    _later(monkeypatch, timedelta(seconds=11))
    assert outbox.deliver_pending(settings=short) == 1
    assert heard.calls == [(job.id, event.id)]


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
    _later(monkeypatch, LEASE + timedelta(seconds=1))
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


class Flaky:
    """A receiver that raises its first ``fails`` calls (with a key in the message)."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.calls = 0

    def __call__(self, sender, **data) -> None:
        self.calls += 1
        if self.calls <= self.fails:
            raise RuntimeError(f"CDN said no, key sk-ant-api03-{'x' * 24}")


@pytest.fixture
def flaky():
    receivers: list[Flaky] = []

    def make(fails: int) -> Flaky:
        receiver = Flaky(fails)
        events.job_failed.connect(receiver)
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        events.job_failed.disconnect(receiver)


def _sweep_at(monkeypatch, when) -> int:
    monkeypatch.setattr(outbox, "utcnow", lambda: when)
    return outbox.deliver_pending(settings=Settings(event_max_attempts=3))


def test_an_event_a_receiver_raised_on_is_retried_with_backoff_only_to_that_receiver(
    any_db, heard, flaky, monkeypatch
):
    # Given two receivers, one of which raises on its first delivery
    bad = flaky(1)
    job = SeoBatchJob.create(status="processing")
    assert job.mark_failed("boom")
    # Then the event is not delivered: the raising receiver and its redacted error are kept
    event = SeoBatchEvent.get()
    assert heard.calls == [(job.id, event.id)] and bad.calls == 1
    assert event.published_at is None and event.failed_at is None and event.attempts == 1
    assert event.delivered_to == [f"{__name__}.Heard"]
    assert f"{__name__}.Flaky: RuntimeError: CDN said no" in event.last_error
    assert "sk-ant-api03" not in event.last_error
    assert event.next_attempt_at == event.claimed_until or event.claimed_until is None
    start = event.next_attempt_at - outbox.retry_delay(1)
    # When the sweep runs before the backoff is over, nothing happens
    assert _sweep_at(monkeypatch, start + timedelta(seconds=30)) == 0
    assert bad.calls == 1
    # When it runs after, only the receiver that raised is called, and the event is delivered
    assert _sweep_at(monkeypatch, start + outbox.retry_delay(1) + timedelta(seconds=1)) == 1
    assert bad.calls == 2 and heard.calls == [(job.id, event.id)]
    event = SeoBatchEvent.get()
    assert event.published_at is not None and event.attempts == 2
    assert sorted(event.delivered_to) == [f"{__name__}.Flaky", f"{__name__}.Heard"]
    assert outbox.backlog() == (0, 0)


def test_an_event_that_keeps_failing_is_marked_failed_after_the_last_attempt(
    any_db, flaky, monkeypatch
):
    bad = flaky(100)
    job = SeoBatchJob.create(status="processing")
    assert job.mark_failed("boom")
    when = db.utcnow()
    for attempt in (2, 3):
        when += outbox.retry_delay(attempt - 1) + timedelta(seconds=1)
        assert _sweep_at(monkeypatch, when) == 0
        assert SeoBatchEvent.get().attempts == attempt
    event = SeoBatchEvent.get()
    assert event.failed_at is not None and event.published_at is None and bad.calls == 3
    assert outbox.backlog() == (0, 1)
    # Then no later sweep sends it again
    assert _sweep_at(monkeypatch, when + timedelta(days=1)) == 0
    assert bad.calls == 3


def test_a_delivery_that_died_on_its_last_attempt_is_failed_by_the_sweep(any_db, monkeypatch):
    job = SeoBatchJob.create(status="failed")
    event = SeoBatchEvent.create(job=job, name="job_failed", payload=job.event_payload(),
                                 attempts=3, claimed_until=db.utcnow())
    assert _sweep_at(monkeypatch, db.utcnow() + timedelta(seconds=1)) == 0
    event = SeoBatchEvent.get_by_id(event.id)
    assert event.failed_at is not None and event.last_error == outbox.DIED
    assert outbox.backlog() == (0, 1)


def test_the_retry_delay_doubles_up_to_an_hour():
    assert [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 7, 8, 20)] == [
        60, 120, 240, 3600, 3600, 3600]


def test_an_unloadable_subscriber_module_keeps_the_event_undelivered(any_db, heard):
    settings = Settings(subscribers=("no_such_module_for_seobatch",))
    job = SeoBatchJob.create(status="processing")
    with db.database.atomic():
        SeoBatchEvent.create(job=job, name="job_failed", payload=job.event_payload())
    event = SeoBatchEvent.get()
    try:
        assert outbox.deliver(event.id, settings=settings) == "retry"
    finally:
        outbox.load_subscribers((), Settings())  # back to no modules for the other tests
    event = SeoBatchEvent.get()
    assert event.published_at is None
    assert "SEOBATCH_SUBSCRIBERS: ModuleNotFoundError" in event.last_error
    assert heard.calls == [(job.id, event.id)], "the receivers that are there still hear it"


def test_load_subscribers_configures_each_module_once_per_settings(tmp_path, monkeypatch):
    (tmp_path / "configured_hooks_for_test.py").write_text(
        "calls = []\ndef configure(settings):\n    calls.append(settings.audit_log)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "configured_hooks_for_test"
    one, two = Settings(audit_log="one.jsonl"), Settings(audit_log="two.jsonl")
    try:
        assert outbox.load_subscribers([name], one) == [name]
        outbox.load_subscribers([name], one)
        outbox.load_subscribers([name], two)
        import configured_hooks_for_test  # the module the outbox imported

        assert configured_hooks_for_test.calls == ["one.jsonl", "two.jsonl"]
    finally:
        outbox.load_subscribers((), Settings())


def test_the_audit_log_subscriber_writes_where_its_settings_say(any_db, tmp_path):
    from seobatch.subscribers import audit_log

    path = tmp_path / "audit.jsonl"
    settings = Settings(subscribers=("seobatch.subscribers.audit_log",), audit_log=str(path))
    job = SeoBatchJob.create(status="processing")
    with db.database.atomic():
        SeoBatchEvent.create(job=job, name="job_failed", payload=job.event_payload())
    receivers = ((events.job_submitted, audit_log.on_submitted),
                 (events.job_completed, audit_log.on_completed),
                 (events.job_failed, audit_log.on_failed))
    for signal, receiver in receivers:  # connected at its first import; again after a test
        signal.connect(receiver)
    try:
        assert outbox.deliver(SeoBatchEvent.get().id, settings=settings) == "delivered"
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)
        outbox.load_subscribers((), Settings())
    (line,) = path.read_text().splitlines()
    assert '"event": "job_failed"' in line and f'"job_id": {job.id}' in line
