"""R1, R13, R15: a real ``dramatiq actors`` worker process on Redis + PostgreSQL against
the emulator, killed or cut off mid-stage. The run must end exactly like the fault-free
run of the same pages: one batch paid, one outcome per item, one event per transition.

Redelivery of a killed worker's messages is made quick the way Dramatiq's own tests do
it (reliability notes §1.4): a short heartbeat timeout and maintenance on every command
(``SEOBATCH_REDIS_HEARTBEAT_MS``, ``SEOBATCH_REDIS_MAINTENANCE_CHANCE``).
"""

from __future__ import annotations

import time

import pytest

from seobatch.models import SeoBatchJob

from tests.faults import golden
from tests.faults.procs import Worker, redis_dump
from tests.faults.support import (
    PAGES,
    CollectorLock,
    assert_no_canaries,
    fault_settings,
    finish_with_fresh_worker,
    first_job,
    golden_run,
    run_ended,
    seobatch,
    worker_env,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]



def _ended_as_golden(want, *texts: str) -> None:
    """The tables equal the fault-free run's, one outcome per item, each event once, and no
    key in any log, output or Redis message."""
    golden.assert_same(golden.snapshot(), want)
    golden.assert_one_outcome_per_item()
    golden.assert_events_once()
    assert_no_canaries(*texts)


@pytest.mark.parametrize("stage", ["collect", "submit", "poll", "results"])
def test_r1_a_worker_killed_inside_each_stage_loses_nothing_and_pays_once(
    pg_db, redis_url, redis_namespace, emulator, tmp_path, stage
):
    """R1: SIGKILL of the worker child while it is inside collect (mid-chunks, blocked on
    the collector lock), submit (the create in flight: the provider makes the batch after
    the worker died), poll or results (the call in flight) → a fresh worker and
    `seobatch recover` finish the run: tables equal to the golden run, one batch created,
    every item one outcome, each event once; the master exited non-zero."""
    settings = fault_settings(emulator, chunk_size=10)
    want = golden_run(emulator, settings, PAGES)
    env = worker_env(pg_db, redis_url, redis_namespace, emulator)
    lock = CollectorLock(pg_db) if stage == "collect" else None
    queued = seobatch(env, "run")
    assert queued.returncode == 0, queued.stderr
    job_id = first_job().id
    if lock:
        lock.take()
    else:
        op = {"submit": "create", "poll": "get", "results": "results"}[stage]
        emulator.set_faults(delay={op: 3.0})
    worker = Worker(env, tmp_path / "worker1.log")
    try:
        if lock:
            wait_for(lock.worker_waiting, 20, what="collect waiting on the lock")
            lock.let_one_chunk_through()
            wait_for(lock.worker_waiting, 10, what="collect waiting for its next chunk")
            meta = SeoBatchJob.get_by_id(job_id).metadata
            assert 0 < meta["collected"] < PAGES and SeoBatchJob.get_by_id(job_id).status == "collecting"
        else:
            op = {"submit": "create", "poll": "get", "results": "results"}[stage]
            wait_for(lambda: emulator.stats()["anthropic"][op] >= 1, 20, what=f"{op} in flight")
            time.sleep(0.3)  # the request is fully sent; the worker waits for the reply
        assert worker.kill_child() != 0, "the master must exit non-zero when a worker dies"
    finally:
        worker.stop()
        if lock:
            lock.release()
    first_log = worker.text()
    assert not run_ended(job_id)
    if stage == "submit":
        # The provider finishes making the batch the dead worker asked for.
        wait_for(lambda: emulator.stats()["anthropic"]["batches_created"] == 1, 30,
                   what="the dead worker's batch to be created")
    emulator.set_faults(delay=0.0)
    second, recovered = finish_with_fresh_worker(env, tmp_path, job_id)
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    if stage == "submit":  # the dead worker's batch was found and adopted, not sent again
        assert emulator.stats()["anthropic"]["create"] == 1
        assert SeoBatchJob.get_by_id(job_id).metadata.get("reconciled") is True
    print(recovered)
    _ended_as_golden(want, first_log, second.text(), recovered, redis_dump(redis_url, redis_namespace))


@pytest.mark.parametrize("op", ["create", "get", "download"])
def test_r1_an_openai_run_with_its_worker_killed_mid_call_loses_nothing_and_pays_once(
    pg_db, redis_url, redis_namespace, emulator, tmp_path, op
):
    """R1 on OpenAI's Files + Batches through the Procfile worker: SIGKILL while the create
    (the provider makes the batch after the worker died: adopted by its metadata), a poll
    or the output file's download is in flight → a fresh worker and `seobatch recover`
    end the run as the fault-free one: one batch, one outcome per item, each event once."""
    model = "gpt-4o-mini"
    want = golden_run(emulator, fault_settings(emulator, chunk_size=10), PAGES, model)
    env = worker_env(pg_db, redis_url, redis_namespace, emulator)
    queued = seobatch(env, "run", "--model", model)
    assert queued.returncode == 0, queued.stderr
    job_id = first_job().id
    emulator.set_faults(delay={f"openai.{op}": 3.0})
    worker = Worker(env, tmp_path / "worker1.log")
    try:
        wait_for(lambda: emulator.stats()["openai"][op] >= 1, 30, what=f"{op} in flight")
        time.sleep(0.3)  # the request is fully sent; the worker waits for the reply
        assert worker.kill_child() != 0, "the master must exit non-zero when a worker dies"
    finally:
        worker.stop()
    first_log = worker.text()
    assert not run_ended(job_id)
    if op == "create":
        wait_for(lambda: emulator.stats()["openai"]["batches_created"] == 1, 30,
                 what="the dead worker's batch to be created")
    emulator.set_faults(delay=0.0)
    second, recovered = finish_with_fresh_worker(env, tmp_path, job_id)
    stats = emulator.stats()["openai"]
    assert stats["batches_created"] == 1
    if op == "create":  # found by the job's key in the batch's metadata, not sent again
        assert stats["create"] == 1
        assert SeoBatchJob.get_by_id(job_id).metadata.get("reconciled") is True
    assert SeoBatchJob.get_by_id(job_id).status == "completed"
    _ended_as_golden(want, first_log, second.text(), recovered, redis_dump(redis_url, redis_namespace))


def test_r15_sigterm_with_a_call_in_flight_finishes_it_and_loses_nothing(
    pg_db, redis_url, redis_namespace, emulator, tmp_path
):
    """R15: SIGTERM while a poll waits on the provider → the worker finishes that message
    (it is not abandoned), exits 0, and its next step is safe in Redis: a new worker
    completes the run without any recovery sweep."""
    settings = fault_settings(emulator, chunk_size=10)
    want = golden_run(emulator, settings, 12)
    env = worker_env(pg_db, redis_url, redis_namespace, emulator)
    assert seobatch(env, "run").returncode == 0
    job_id = first_job().id
    emulator.set_faults(delay={"get": 2.0})
    worker = Worker(env, tmp_path / "worker1.log")
    try:
        wait_for(lambda: emulator.stats()["anthropic"]["get"] >= 1, 20, what="poll in flight")
        code = worker.terminate()
    finally:
        worker.stop()
    assert code == 0, worker.text()[-3000:]
    assert SeoBatchJob.get_by_id(job_id).metadata.get("provider_state") == "ended", "the poll was abandoned"
    emulator.set_faults(delay=0.0)
    second = Worker(env, tmp_path / "worker2.log")
    try:
        wait_for(lambda: run_ended(job_id), 40, interval=0.2, what="the run to end")
        wait_for(lambda: golden.undelivered_events() == 0, 10, what="events delivered")
    finally:
        second.stop()
    golden.assert_same(golden.snapshot(), want)
    assert_no_canaries(worker.text(), second.text(), redis_dump(redis_url, redis_namespace))
