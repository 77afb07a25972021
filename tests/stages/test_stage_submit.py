"""submit: one paid batch per job, whatever goes wrong around the create call."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from seobatch import db, events
from seobatch.models import SeoBatchJob
from seobatch.providers import get_provider
from seobatch.stages import Step
from seobatch.stages.cancel import cancel
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import FakeProvider, job, make_settings


def _collected(settings, pages=5, **kw) -> SeoBatchJob:
    make_pages(pages)
    j = kickoff(settings=settings, **kw).job
    assert collect(j.id, settings=settings) == [Step("submit", j.id)]
    return job(j.id)


def _created(emulator, provider="anthropic") -> int:
    return emulator.stats()[provider]["batches_created"]


def test_submit_sends_one_batch_and_schedules_the_first_poll(any_db, emulator):
    settings = make_settings(emulator, poll_interval=30)
    j = _collected(settings)
    submitted = []
    with events.job_submitted.connected_to(lambda sender, **kw: submitted.append(kw)):
        steps = submit(j.id, settings=settings)
    assert steps == [Step("poll", j.id, delay_ms=30_000)]
    row = job(j.id)
    assert row.status == "processing" and row.ai_batch_id.startswith("msgbatch_")
    meta = row.metadata
    assert meta["display_name"].startswith(f"seobatch-job-{j.id}-") and meta["submit_attempts"] == 1
    assert meta["submit_started_at"] and not meta.get("submit_lease_until")
    assert _created(emulator) == 1
    assert emulator.stats()["anthropic"]["requests_created"] == 5
    assert [e["provider_batch_id"] for e in submitted] == [row.ai_batch_id]


def test_a_repeated_submit_sends_nothing(any_db, emulator, settings):
    j = _collected(settings)
    submit(j.id, settings=settings)
    assert submit(j.id, settings=settings) == []
    assert _created(emulator) == 1


def test_a_duplicate_submit_during_the_create_call_backs_off(any_db, emulator, settings):
    # Given a create that takes a second, and a duplicate message arriving meanwhile
    j = _collected(settings)
    emulator.set_faults(delay={"create": 1.0})
    first: list = []
    worker = threading.Thread(target=lambda: (db.database.connect(reuse_if_open=True),
                                              first.extend(submit(j.id, settings=settings)),
                                              db.database.close()))
    worker.start()
    for _ in range(100):  # wait until the first attempt holds the lease
        if (job(j.id).metadata or {}).get("submit_sent_at"):
            break
        threading.Event().wait(0.02)
    second = submit(j.id, settings=settings)
    worker.join(10)
    # Then the duplicate came back later instead of sending, and one batch exists
    assert len(second) == 1 and second[0].actor == "submit" and second[0].delay_ms > 0
    assert first and first[0].actor == "poll"
    assert _created(emulator) == 1
    # And when the duplicate's delayed message runs, it does nothing
    assert submit(j.id, settings=settings) == []


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash"])
def test_an_ambiguous_create_is_reconciled_to_the_batch_the_provider_made(any_db, emulator, settings, model):
    # Given a provider that accepts the batch but whose answer never arrives
    j = _collected(settings, model=model)
    emulator.set_faults(drop_create_response=1)
    provider = get_provider(model, settings)
    # When submit runs
    steps = submit(j.id, settings=settings, provider=provider)
    # Then it found and adopted that batch instead of sending a second one
    row = job(j.id)
    assert row.status == "processing" and row.metadata["reconciled"] is True
    assert steps == [Step("poll", j.id, delay_ms=0)]
    name = "anthropic" if model.startswith("claude") else "gemini"
    assert _created(emulator, name) == 1
    assert emulator.stats()["faults"]["dropped"] == 1


def test_a_worker_killed_mid_create_is_reconciled_by_the_next_attempt(any_db, emulator, settings):
    # Given an attempt that sent the create and died before recording the batch
    j = _collected(settings, pages=4)
    provider = get_provider(j.model, settings)
    info = provider.create_batch(_requests(j.id), model=j.model, display_name="lost")
    now = db.utcnow()
    SeoBatchJob.update(metadata={
        **j.metadata, "display_name": "lost", "submit_attempts": 1,
        "submit_started_at": now.isoformat(), "submit_sent_at": now.isoformat(),
        "submit_lease_until": (now - timedelta(seconds=1)).isoformat(),
    }).where(SeoBatchJob.id == j.id).execute()
    # When the message is delivered again
    submit(j.id, settings=settings)
    # Then the batch is adopted: still one batch
    assert job(j.id).ai_batch_id == info.id and _created(emulator) == 1


def test_nothing_is_sent_again_until_the_provider_had_time_to_show_the_batch(any_db, emulator):
    settings = make_settings(emulator, submit_settle_seconds=60)
    j = _collected(settings, pages=3)
    sent = db.utcnow() - timedelta(seconds=10)
    SeoBatchJob.update(metadata={
        **j.metadata, "display_name": "seobatch-job-x", "submit_attempts": 1,
        "submit_started_at": sent.isoformat(), "submit_sent_at": sent.isoformat(),
    }).where(SeoBatchJob.id == j.id).execute()
    # Ten seconds after an unclear create, nothing listed: look again later, send nothing
    [later] = submit(j.id, settings=settings)
    assert later.actor == "submit" and 49_000 < later.delay_ms <= 50_001
    assert _created(emulator) == 0
    # A minute after it, still nothing: the provider surely has no such batch; send it
    steps = submit(j.id, settings=settings, now=db.utcnow() + timedelta(seconds=51))
    assert steps[0].actor == "poll" and _created(emulator) == 1


def test_a_refused_create_needs_no_reconciliation(any_db, emulator, settings):
    from seobatch.errors import TransientError

    j = _collected(settings, pages=2)
    emulator.set_faults(http_errors={"create": [429] * 5}, retry_after=0.01)
    with pytest.raises(TransientError):
        submit(j.id, settings=settings)
    meta = job(j.id).metadata
    assert meta["submit_outcome"] == "rejected" and not meta.get("submit_lease_until")
    # The retry sends at once (no settle wait, no listing)
    settings = make_settings(emulator, submit_settle_seconds=3600)
    assert submit(j.id, settings=settings)[0].actor == "poll"
    assert _created(emulator) == 1 and emulator.stats()["anthropic"]["list"] == 0


def test_the_cost_guard_fails_the_job_before_anything_is_sent(any_db, emulator, settings):
    j = _collected(settings, pages=5, max_cost=0.0001)
    failed = []
    with events.job_failed.connected_to(lambda sender, **kw: failed.append(kw["error"])):
        assert submit(j.id, settings=settings) == []
    assert job(j.id).status == "failed"
    assert failed and "above the max cost of $0.00" in failed[0]
    assert emulator.stats()["anthropic"]["create"] == 0


def test_the_cost_guard_refuses_a_model_without_a_price(any_db, emulator):
    settings = make_settings(emulator, max_cost=100.0, allow_models=("claude-unreleased-9",))
    j = _collected(settings, pages=1, model="claude-unreleased-9")
    submit(j.id, settings=settings)
    assert job(j.id).status == "failed" and "no price is known" in job(j.id).metadata["error"]


def test_the_cost_guard_lets_a_cheap_job_through(any_db, emulator):
    settings = make_settings(emulator, max_cost=5.0)
    j = _collected(settings, pages=3)
    assert submit(j.id, settings=settings)[0].actor == "poll"


def test_a_batch_created_for_a_job_canceled_meanwhile_is_canceled(any_db, settings):
    # Given a create in flight (held by the provider) and an operator canceling the job
    provider = FakeProvider()
    provider.gate = threading.Event()
    j = _collected(settings, pages=2)
    out: list = []
    worker = threading.Thread(target=lambda: (db.database.connect(reuse_if_open=True),
                                              out.extend(submit(j.id, settings=settings, provider=provider)),
                                              db.database.close()))
    worker.start()
    assert provider.entered.wait(5)
    cancel(j.id, settings=settings, provider=provider)
    provider.gate.set()
    worker.join(10)
    # Then the job stays failed, and the batch nobody will read is canceled
    row = job(j.id)
    assert row.status == "failed" and row.metadata["error"] == "canceled by operator"
    assert out == [] and provider.creates == 1 and provider.cancels == 1
    assert row.metadata["orphan_batch_id"] in provider.batches


def _requests(job_id):
    from seobatch.stages.submit import JobRequests

    return JobRequests(job_id, 2)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash"])
def test_the_body_sent_is_never_bigger_than_what_collect_counted(any_db, emulator, model, tmp_path):
    # Collect counts each request's bytes to keep a job under the provider's limit;
    # submit sends the stored JSON as the database returns it (jsonb text has spaces).
    import json
    import tempfile

    from seobatch.stages.submit import JobRequests

    settings = make_settings(emulator)
    j = _collected(settings, pages=12, model=model)
    requests = JobRequests(j.id, settings.chunk_size)
    assert [r.body_dict()["generationConfig" if model.startswith("gemini") else "model"] for r in requests]
    client = get_provider(model, settings)
    with tempfile.TemporaryFile() as out:
        if model.startswith("claude"):
            sent = client._spool_body(requests, out)
            out.seek(0)
            assert len(json.loads(out.read())["requests"]) == 12
        else:
            _, sent, inline = client._spool_jsonl(requests, out)
            sent = max(sent, inline)
    assert sent <= j.metadata["collected_bytes"] + 64
