"""Issue 16 §2: a split Anthropic run whose create replies get lost, against a provider
that answers 429/5xx now and then, with its workers killed every few seconds. Every job
must complete with no manual review, one batch paid per job, and no batch left at the
provider that no job owns.

A real ``dramatiq actors`` worker on Redis + PostgreSQL, killed with SIGKILL (as the OOM
killer would), restarted, and ``seobatch recover`` run after each death.
"""

from __future__ import annotations

import time

import pytest

from seobatch.models import SeoBatchItem, SeoBatchJob
from seobatch.stages.reconcile import orphan_ids

from tests.faults import golden
from tests.faults.procs import Worker
from tests.faults.support import chain, first_job, run_ended, seobatch, worker_env
from tests.support.pages import seed_pages
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

#: Six jobs of 10, 9, 8, 7, 6 and 5 items (each split job holds one fewer than the last).
PAGES, PER_JOB, JOBS = 45, 10, 6
KILLS = 6


def test_a_split_anthropic_run_with_lost_creates_and_killed_workers_completes_every_job_paid_once(
    pg_db, redis_url, redis_namespace, emulator, tmp_path
):
    seed_pages(PAGES)
    # A quarter of the creates made (two of the six, and one more later) lose their reply;
    # 429 and 5xx now and then on create, poll, list and results.
    emulator.set_faults(
        drop_create_response=2,
        http_errors={"create": [429, 503], "get": [500, 529], "list": [502], "results": [500]},
        delay={"create": 0.7},
        processing_seconds=1.5,
    )
    env = worker_env(pg_db, redis_url, redis_namespace, emulator,
                     SEOBATCH_BATCH_MAX_REQUESTS=str(PER_JOB), SEOBATCH_CHUNK_SIZE="4",
                     # a delivery killed mid-way is sent again by recover after this, not 5 min
                     SEOBATCH_EVENT_LEASE="5")
    queued = seobatch(env, "run")
    assert queued.returncode == 0, queued.stderr
    first = first_job().id
    logs: list[str] = []
    deadline = time.monotonic() + 240
    for n in range(KILLS):
        if run_ended(first) and len(chain(first)) == JOBS:
            break
        worker = Worker(env, tmp_path / f"worker{n}.log")
        try:
            time.sleep(2.5 + (n % 3))
            if worker.proc.poll() is None:
                worker.kill_child()
        finally:
            worker.stop()
            logs.append(worker.text())
        if n == 2:
            emulator.set_faults(drop_create_response=1)
        out = seobatch(env, "recover")
        assert out.returncode == 0, out.stderr
    last = Worker(env, tmp_path / "last.log")
    try:
        while not (run_ended(first) and len(chain(first)) == JOBS):
            assert time.monotonic() < deadline, last.text()[-4000:]
            out = seobatch(env, "recover")
            assert out.returncode == 0, out.stderr
            time.sleep(1.0)
        # An event whose delivery died with a killed worker is delivered by recover
        wait_for(lambda: seobatch(env, "recover").returncode == 0 and golden.undelivered_events() == 0,
                   90, interval=1.0, what="events delivered")
    finally:
        last.stop()

    ids = chain(first)
    jobs = list(SeoBatchJob.select().where(SeoBatchJob.id.in_(ids)).order_by(SeoBatchJob.id))
    stats = emulator.stats()["anthropic"]
    print({k: stats[k] for k in ("create", "batches_created", "list", "results", "cancel")},
          emulator.stats()["faults"])
    # Every job completed, none failed for manual review, and its pages all got SEO
    assert [j.status for j in jobs] == ["completed"] * JOBS, [j.metadata.get("error") for j in jobs]
    assert sorted((j.total_pages for j in jobs), reverse=True) == [10, 9, 8, 7, 6, 5]
    assert SeoBatchItem.select().where(SeoBatchItem.status != "succeeded").count() == 0
    # The faults did happen: replies were lost and some job adopted its batch by a search
    assert emulator.stats()["faults"]["dropped"] >= 2
    assert any(j.metadata.get("reconciled") for j in jobs)
    # One batch paid per job: creates == jobs
    assert stats["batches_created"] == JOBS
    # No batch at the provider that no job owns
    owned = {j.ai_batch_id for j in jobs} | {b for j in jobs for b in orphan_ids(j.metadata)}
    at_provider = {b.id for b in emulator.store.list_batches("anthropic")}
    assert at_provider <= owned and len(at_provider) == JOBS
    golden.assert_one_outcome_per_item()
    golden.assert_events_once()
