"""Provider faults through the real actors (in-process broker) against the emulator.

Each test runs the same pages fault-free first (the golden run), then with the fault,
and compares the final tables (``golden.assert_same``).
"""

from __future__ import annotations

import pytest

from actors import send_steps
from seobatch import events
from seobatch.models import SeoBatchEvent, SeoBatchJob

from . import golden
from .support import MODELS, fault_settings, golden_run, kickoff_run, run_steps, stopwatch, wait_run

pytestmark = pytest.mark.timeout(60)


def start(settings, model=None, **kw) -> int:
    job_id = kickoff_run(settings, model, **kw)
    send_steps(run_steps(job_id))
    return job_id


class FailedEvents:
    """Collects job_failed signals (a module-level receiver: blinker holds them weakly)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def __call__(self, sender, **data) -> None:
        self.seen.append(data)


@pytest.fixture
def failed_events():
    receiver = FailedEvents()
    events.job_failed.connect(receiver)
    try:
        yield receiver
    finally:
        events.job_failed.disconnect(receiver)


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_r2_r7_a_create_whose_response_is_dropped_is_reconciled_into_one_batch(
    any_db, emulator, worker, settings, provider
):
    """R2/R7: the provider accepted the batch but the reply never arrived → the submit
    reconciles (lists the provider's batches) and adopts it: one batch paid, same tables."""
    model = MODELS[provider]
    want = golden_run(emulator, settings, 12, model)
    emulator.set_faults(drop_create_response=1)
    job_id = start(settings, model)
    wait_run(job_id)
    stats = emulator.stats()
    assert stats["faults"]["dropped"] == 1
    assert stats[provider]["batches_created"] == 1
    assert SeoBatchJob.get_by_id(job_id).metadata.get("reconciled") is True
    golden.assert_same(golden.snapshot(), want)
    golden.assert_one_outcome_per_item()
    golden.assert_events_once()


@pytest.mark.parametrize("entry", [500, 503, "drop", "hang"])
def test_r7_an_ambiguous_create_that_made_nothing_is_sent_once_more(sqlite_db, emulator, worker, settings, entry):
    """R7: a 5xx, a dropped connection or a timeout on create → never a blind retry:
    reconciliation runs first, finds nothing, and only then is the batch sent again."""
    want = golden_run(emulator, settings, 8)
    emulator.set_faults(http_errors={"create": [entry]})
    job_id = start(settings)
    wait_run(job_id, timeout=20)
    stats = emulator.stats()["anthropic"]
    assert stats["create"] == 2, "exactly one resend"
    assert stats["list"] >= 1, "reconciliation looked before resending"
    assert stats["batches_created"] == 1
    golden.assert_same(golden.snapshot(), want)


@pytest.mark.slow
def test_r7_a_create_that_timed_out_but_made_the_batch_later_is_adopted_not_resent(
    sqlite_db, emulator, worker
):
    """R7: the create times out while the provider is still making the batch; the first
    reconciliation sees nothing, and nothing is resent before the settle time, by which
    the batch shows up and is adopted: one batch."""
    settings = fault_settings(emulator, http_timeout=0.5, submit_settle_seconds=3)
    from actors.broker import runtime

    runtime.settings = settings
    want = golden_run(emulator, settings, 6)
    emulator.set_faults(delay={"create": 1.5})
    job_id = start(settings)
    wait_run(job_id, timeout=30)
    stats = emulator.stats()["anthropic"]
    assert stats["batches_created"] == 1
    assert stats["create"] == 1
    assert SeoBatchJob.get_by_id(job_id).metadata.get("reconciled") is True
    golden.assert_same(golden.snapshot(), want)


def test_r4_429_with_retry_after_is_waited_out_on_create_poll_and_results(any_db, emulator, worker, settings):
    """R4: 429 + retry-after twice on create, once on poll and on results → each call is
    retried after at least the server's delay, the run succeeds, one batch, same tables."""
    want = golden_run(emulator, settings, 10)
    emulator.set_faults(
        http_errors={"create": [429, 429], "get": [429], "results": [429]}, retry_after=0.3
    )
    elapsed = stopwatch()
    job_id = start(settings)
    wait_run(job_id)
    stats = emulator.stats()["anthropic"]
    assert stats["create"] == 3 and stats["batches_created"] == 1
    assert emulator.stats()["faults"]["http_errors"] == 4
    assert elapsed() >= 4 * 0.3, "the retry-after was not honoured"
    golden.assert_same(golden.snapshot(), want)


def test_r4_a_retry_after_too_long_to_sleep_becomes_a_delayed_dramatiq_retry(monkeypatch):
    """R4: a server delay above what a worker thread may sleep is not slept in-process:
    the actor raises ``Retry`` with that delay (no thread held, no tight loop)."""
    import dramatiq

    from actors._run import run_stage
    from seobatch.errors import TransientError
    from seobatch.stages import STAGES

    def stage(job_id, *, settings):
        raise TransientError("rate limited", provider="anthropic", status=429, retry_after=90)

    monkeypatch.setitem(STAGES, "submit", stage)
    with pytest.raises(dramatiq.Retry) as info:
        run_stage("submit", 1)
    assert info.value.delay == 90_000


@pytest.mark.parametrize(
    "entry, reason",
    [(400, "400"), (403, "403"), (404, "404"), ("spend_limit", "429")],
)
def test_r5_a_permanent_create_error_fails_the_job_once_without_retrying(
    any_db, emulator, worker, settings, failed_events, entry, reason
):
    """R5: 400/403/404 and the spend-limit 429 on create are not retried: one attempt,
    the job failed with a readable reason, exactly one job_failed event."""
    golden_run(emulator, settings, 3)
    emulator.set_faults(http_errors={"create": [entry, entry, entry]})
    job_id = start(settings)
    wait_run(job_id)
    row = SeoBatchJob.get_by_id(job_id)
    assert row.status == "failed" and reason in row.metadata["error"]
    assert emulator.stats()["anthropic"]["create"] == 1
    assert emulator.stats()["anthropic"]["batches_created"] == 0
    assert [e["job_id"] for e in failed_events.seen] == [job_id]
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").count() == 1


@pytest.mark.parametrize("op", ["get", "results"])
def test_r5_a_permanent_error_while_polling_or_reading_fails_the_job_once(
    sqlite_db, emulator, worker, settings, failed_events, op
):
    """R5: a 403 on poll or on the results download fails the job at once, one event."""
    golden_run(emulator, settings, 3)
    emulator.set_faults(http_errors={op: [403, 403, 403]})
    job_id = start(settings)
    wait_run(job_id)
    row = SeoBatchJob.get_by_id(job_id)
    assert row.status == "failed" and "403" in row.metadata["error"]
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    assert len(failed_events.seen) == 1


@pytest.mark.parametrize("database, op", [("sqlite_db", "create"), ("sqlite_db", "get"), ("pg_db", "results")])
def test_r6_5xx_and_529_runs_longer_than_the_client_retries_are_outlasted(
    request, database, emulator, worker, settings, failed_events, op
):
    """R6: 500/503/529 for more consecutive calls than the client retries (so the actor's
    own retry kicks in) → the job stays where it was, no failed event, and the run ends
    exactly like the fault-free one. On create only the refusals (529) are retried
    directly; a 5xx there is ambiguous and goes through reconciliation (R7)."""
    request.getfixturevalue(database)
    want = golden_run(emulator, settings, 8)
    script = [529, 529, 529, 529] if op == "create" else [500, 503, 529, 500, 503]
    emulator.set_faults(http_errors={op: script}, retry_after=None)
    job_id = start(settings)
    wait_run(job_id, timeout=40)
    assert failed_events.seen == []
    assert emulator.stats()["faults"]["http_errors"] == len(script)
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    golden.assert_same(golden.snapshot(), want)
