"""Deadline-aware failover through the Procfile worker (``dramatiq actors``) on Redis +
PostgreSQL: a Gemini batch that never leaves PENDING in the emulator, a deadline an
emulated hour away, the pages finished by Claude; and R1 at the one point of the failover
no stage picks up again: the worker SIGKILLed after the stuck job completed, before its
fallback job exists (inside the job_completed delivery, as the subscriber suite kills it).
"""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta

import pytest

from seobatch.db import utcnow
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob

from tests.faults import golden
from tests.faults.procs import Worker, redis_dump
from tests.faults.support import assert_no_canaries, first_job, seobatch, worker_env
from tests.support.pages import seed_pages
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(150)]

PRIMARY, FALLBACK = "gemini-2.5-flash", "claude-sonnet-4-5"
PAGES = 12

#: A subscriber module: a line per job_completed; with HOOK_SLEEP_ON_COMPLETED set it
#: writes a marker and blocks there, to be killed.
HOOK = '''
import json, os, time
from seobatch import events

@events.job_completed.connect
def on_completed(job, **data):
    path = os.environ["HOOK_FILE"]
    if os.environ.get("HOOK_SLEEP_ON_COMPLETED"):
        with open(path, "a") as out:
            out.write(json.dumps({"job_id": data["job_id"], "started": True}) + "\\n")
        time.sleep(120)
    with open(path, "a") as out:
        out.write(json.dumps({"job_id": data["job_id"]}) + "\\n")
'''


def _env(pg_db, redis_url, redis_namespace, emulator, tmp_path, **extra: str) -> dict[str, str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "failover_hook.py").write_text(textwrap.dedent(HOOK))
    deadline = (utcnow() + timedelta(hours=1)).strftime("%H:%M UTC")
    return worker_env(
        pg_db, redis_url, redis_namespace, emulator,
        SEOBATCH_DEADLINE=deadline, SEOBATCH_FAILOVER_MODEL=f"gemini={FALLBACK}", SEOBATCH_CLAIM_TTL="3",
        PYTHONPATH=str(hooks), SEOBATCH_SUBSCRIBERS="failover_hook", HOOK_FILE=str(tmp_path / "heard.jsonl"),
        **extra,
    )


def _heard(tmp_path) -> list[dict]:
    path = tmp_path / "heard.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _failed_over(first_id: int) -> bool:
    meta = SeoBatchJob.get_by_id(first_id).metadata or {}
    nxt = meta.get("failover_job_id")
    return bool(nxt) and SeoBatchJob.get_by_id(nxt).status in (JobStatus.COMPLETED, JobStatus.FAILED)


def _assert_failed_over_once(emulator, first_id: int) -> SeoBatchJob:
    stuck = SeoBatchJob.get_by_id(first_id)
    assert stuck.status == JobStatus.COMPLETED and stuck.succeeded_count == 0
    assert stuck.metadata["failover"]["reason"] == "stuck_pending"
    assert stuck.metadata["ending"] == "canceled"
    fallback = SeoBatchJob.get_by_id(stuck.metadata["failover_job_id"])
    assert fallback.model == FALLBACK and fallback.metadata["failover_of"] == first_id
    assert fallback.status == JobStatus.COMPLETED and fallback.succeeded_count == PAGES
    assert SeoBatchJob.select().count() == 2, "one fallback job, no other"
    # each page saved once: one succeeded item per page over both jobs, by the fallback
    ok = SeoBatchItem.select().where(SeoBatchItem.status == ItemStatus.SUCCEEDED)
    assert sorted(i.page_id for i in ok) == sorted(p.id for p in Page.select())
    assert Page.select().where(Page.seo_model == FALLBACK).count() == PAGES
    g, a = emulator.stats()["gemini"], emulator.stats()["anthropic"]
    assert (g["batches_created"], g["cancel"], a["batches_created"]) == (1, 1, 1)
    names = [e.name for e in SeoBatchEvent.select().where(SeoBatchEvent.job == first_id)]
    assert names.count("job_failed_over") == 1
    golden.assert_one_outcome_per_item()
    golden.assert_events_once()
    return fallback


def test_a_stuck_gemini_batch_fails_over_to_claude_through_the_worker_process(
    pg_db, redis_url, redis_namespace, emulator, tmp_path
):
    seed_pages(PAGES)
    env = _env(pg_db, redis_url, redis_namespace, emulator, tmp_path)
    emulator.set_faults(batch_outcome="stuck")
    queued = seobatch(env, "run", "--model", PRIMARY)
    assert queued.returncode == 0, queued.stderr
    first_id = first_job().id
    emulator.advance(3600)  # an emulated hour later the batch is still PENDING
    worker = Worker(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: _failed_over(first_id), 60, interval=0.2, what="the failover job to end")
        wait_for(lambda: golden.undelivered_events() == 0, 20, what="events delivered")
    finally:
        worker.stop()
    fallback = _assert_failed_over_once(emulator, first_id)
    assert sorted(h["job_id"] for h in _heard(tmp_path)) == [first_id, fallback.id]
    assert_no_canaries(worker.text(), redis_dump(redis_url, redis_namespace))


def test_r1_a_worker_killed_between_completing_the_stuck_job_and_the_hand_over(
    pg_db, redis_url, redis_namespace, emulator, tmp_path
):
    """R1: SIGKILL after the stuck job's completion committed, before its fallback job is
    made (the worker blocked in the job_completed delivery that sits between the two) →
    no fallback job exists; a fresh worker (its boot sweep, the results message delivered
    again) and two `seobatch recover` make exactly one, which finishes the pages: each page
    saved once, one Claude batch, the stuck batch canceled once, each event once."""
    seed_pages(PAGES)
    env = _env(pg_db, redis_url, redis_namespace, emulator, tmp_path)
    emulator.set_faults(batch_outcome="stuck")
    assert seobatch(env, "run", "--model", PRIMARY).returncode == 0
    first_id = first_job().id
    worker = Worker({**env, "HOOK_SLEEP_ON_COMPLETED": "1"}, tmp_path / "worker1.log")
    try:
        wait_for(lambda: any(h.get("started") for h in _heard(tmp_path)), 60,
                 what="the worker inside job_completed of the stuck job")
        assert worker.kill_child() != 0, "the master must exit non-zero when a worker dies"
    finally:
        worker.stop()
    stuck = SeoBatchJob.get_by_id(first_id)
    assert stuck.status == JobStatus.COMPLETED and "failover" in stuck.metadata
    assert "failover_job_id" not in stuck.metadata and SeoBatchJob.select().count() == 1
    # The killed delivery's lease (5 min) is moved back, so the sweep delivers it too.
    SeoBatchEvent.update(claimed_until=utcnow() - timedelta(seconds=1)).where(
        SeoBatchEvent.published_at.is_null()).execute()

    second = Worker(env, tmp_path / "worker2.log")
    recovered = ""
    try:
        wait_for(lambda: utcnow() - stuck.completed_at > timedelta(seconds=4), 10, what="the claim TTL")
        for _ in range(2):  # two sweeps (and the worker's own boot sweep): one fallback job
            out = seobatch(env, "recover")
            assert out.returncode == 0, out.stderr
            recovered += out.stdout
        wait_for(lambda: _failed_over(first_id), 60, interval=0.2, what="the fallback job to end")
        wait_for(lambda: golden.undelivered_events() == 0, 20, what="events delivered")
    finally:
        second.stop()
    print(recovered)
    _assert_failed_over_once(emulator, first_id)
    assert [h["job_id"] for h in _heard(tmp_path) if not h.get("started")].count(first_id) == 1
    assert_no_canaries(worker.text(), second.text(), recovered, redis_dump(redis_url, redis_namespace))
