"""R13 and R14: the database and the broker fail under a running worker process.

- R13: ``pg_terminate_backend`` on the worker's connections while a stage is in flight.
- R14: a private Redis restarted without persistence (queued messages gone) → the
  recovery sweep completes the run; the startup warning for an evicting Redis.
"""

from __future__ import annotations

import logging
from datetime import UTC

import psycopg2
import pytest

from seobatch.models import SeoBatchJob

from tests.faults import golden
from tests.faults.procs import RedisServer, Worker, redis_dump
from tests.faults.support import (
    APP,
    assert_no_canaries,
    fault_settings,
    first_job,
    golden_run,
    run_ended,
    seobatch,
    worker_env,
)
from tests.support.canaries import CANARIES
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]


def last_heartbeat(url: str, namespace: str) -> float:
    """When (epoch seconds) a worker last fetched from the broker (dramatiq's heartbeat)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        beats = client.zrange(f"{namespace}:__heartbeats__", 0, -1, withscores=True)
    finally:
        client.close()
    return max((score / 1000 for _, score in beats), default=0.0)


def terminate_worker_connections(db_url: str) -> int:
    conn = psycopg2.connect(db_url.split("?")[0])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                        (APP,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_r13_the_workers_database_connections_killed_mid_run_and_the_run_completes(
    pg_db, redis_url, redis_namespace, emulator, tmp_path
):
    """R13: PostgreSQL drops the worker's connections (pg_terminate_backend) while a poll
    is in flight → the failed message is retried on a fresh connection
    (the DbConnections middleware), the run completes exactly like the golden one. While
    the retry waits in Redis, its stored traceback carries no key (S1)."""
    settings = fault_settings(emulator, chunk_size=10)
    want = golden_run(emulator, settings, 12)
    env = worker_env(pg_db, redis_url, redis_namespace, emulator)
    assert seobatch(env, "run").returncode == 0
    job_id = first_job().id
    emulator.set_faults(delay={"get": 1.5})
    worker = Worker(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: emulator.stats()["anthropic"]["get"] >= 1, 20, what="poll in flight")
        assert terminate_worker_connections(pg_db) >= 1
        # The stage's next query fails; Dramatiq keeps the retry (and its traceback) in Redis.
        dump = wait_for(lambda: (d := redis_dump(redis_url, redis_namespace)) and "traceback" in d and d,
                          20, what="a retry with its traceback in Redis")
        assert_no_canaries(dump)
        emulator.set_faults(delay=0.0)
        wait_for(lambda: run_ended(job_id), 60, interval=0.2, what="the run to end")
        wait_for(lambda: golden.undelivered_events() == 0, 10, what="events delivered")
    finally:
        worker.stop()
    log = worker.text()
    assert "OperationalError" in log or "InterfaceError" in log, "the connections were not in use"
    golden.assert_same(golden.snapshot(), want)
    golden.assert_one_outcome_per_item()
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    assert_no_canaries(log)


def test_r14_redis_restarted_without_its_messages_and_recover_completes_the_run(
    pg_db, redis_namespace, emulator, tmp_path
):
    """R14: Redis crashes and comes back empty while the job waits for its next poll (a
    delayed message) → the worker on the new Redis has no message to run; its boot sweep
    (once the poll is overdue) or `seobatch recover` enqueues the stage again: the run ends
    like the golden one.

    The worker is stopped (gracefully: it hands its prefetched delayed poll back to Redis)
    before the crash and a fresh one started after it; a worker that kept the delayed poll
    in memory across the crash would run it on its own, and the test would then race it."""
    redis = RedisServer(tmp_path).start()
    try:
        settings = fault_settings(emulator, chunk_size=10)
        want = golden_run(emulator, settings, 10)
        emulator.set_faults(processing_seconds=3.0)
        env = worker_env(pg_db, redis.url, redis_namespace, emulator,
                         SEOBATCH_POLL_INTERVAL="2", SEOBATCH_POLL_MAX_INTERVAL="2")
        assert seobatch(env, "run").returncode == 0
        job_id = first_job().id
        worker = Worker(env, tmp_path / "worker.log")
        try:
            wait_for(lambda: SeoBatchJob.get_by_id(job_id).status == "processing", 30, what="submitted")
            worker.stop()
            redis.restart()  # the delayed first poll is lost with everything else
            worker = Worker(env, tmp_path / "worker-after-restart.log")
            # Every message is gone (the worker may already have written a heartbeat).
            assert "actor_name" not in redis_dump(redis.url, redis_namespace)
            # Wait until the worker, back on the new Redis, has fetched messages well after
            # the lost poll was due: the poll is sent again by the worker's boot sweep (its
            # second look once the poll is overdue) or by recover, whichever looks first.
            due = SeoBatchJob.get_by_id(job_id).submitted_at.replace(tzinfo=UTC).timestamp() + 2
            wait_for(lambda: last_heartbeat(redis.url, redis_namespace) >= due + 1.5, 30,
                       interval=0.2, what="the worker fetching past the lost poll's due time")
            out = seobatch(env, "recover")
            assert out.returncode == 0, out.stderr
            wait_for(lambda: "poll enqueued again" in out.stdout + worker.text(), 10,
                       what="the lost poll sent again")
            wait_for(lambda: run_ended(job_id), 40, interval=0.2, what="the run to end")
            wait_for(lambda: golden.undelivered_events() == 0, 10, what="events delivered")
        finally:
            worker.stop()
    finally:
        redis.stop()
    golden.assert_same(golden.snapshot(), want)
    assert emulator.stats()["anthropic"]["batches_created"] == 1


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "noeviction"])
def test_r14_an_evicting_redis_is_warned_about_at_startup(tmp_path, caplog, policy):
    """R14: Redis configured to evict keys under memory pressure (queued messages would
    vanish silently) → a warning at broker set-up; ``noeviction`` → none."""
    from actors.broker import warn_if_redis_evicts

    redis = RedisServer(tmp_path, "--maxmemory-policy", policy).start()
    try:
        with caplog.at_level(logging.WARNING, logger="seobatch.worker"):
            assert warn_if_redis_evicts(redis.url) == policy
    finally:
        redis.stop()
    warned = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert bool(warned) == (policy != "noeviction")
    if warned:
        assert policy in warned[0].getMessage() and "noeviction" in warned[0].getMessage()


def test_r14_a_redis_that_refuses_config_get_is_tolerated(tmp_path, caplog):
    """R14: managed Redis often disables CONFIG → no crash, no false warning."""
    from actors.broker import warn_if_redis_evicts

    redis = RedisServer(tmp_path, "--rename-command", "CONFIG", "").start()
    try:
        with caplog.at_level(logging.DEBUG):
            assert warn_if_redis_evicts(redis.url) is None
    finally:
        redis.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_r14_the_worker_and_the_cli_warn_when_redis_evicts(pg_db, redis_namespace, emulator, tmp_path):
    """R14: the warning reaches the operator: `seobatch run` prints it, the worker logs it."""
    redis = RedisServer(tmp_path, "--maxmemory-policy", "allkeys-lru").start()
    try:
        env = worker_env(pg_db, redis.url, redis_namespace, emulator)
        out = seobatch(env, "run")
        assert out.returncode == 0
        assert "maxmemory-policy is allkeys-lru" in out.stderr
        worker = Worker(env, tmp_path / "worker.log")
        try:
            wait_for(lambda: "maxmemory-policy is allkeys-lru" in worker.text(), 20, what="the worker's warning")
        finally:
            worker.stop()
        for canary in CANARIES:
            assert canary not in out.stderr + worker.text()
    finally:
        redis.stop()
