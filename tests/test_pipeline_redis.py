"""The real thing: `seobatch run` queues to Redis, a `dramatiq actors` worker process runs it
against PostgreSQL and the emulator, and the job ends completed with the right counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from seobatch.emulator import Emulator
from seobatch.models import Page, SeoBatchJob
from seobatch.pricing import batch_cost
from seobatch.routing import provider_for_model

from tests.support.net import free_port
from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, ended, job
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def emulator_1s():
    emu = Emulator(processing_seconds=1.0).start()
    try:
        yield emu
    finally:
        emu.stop()


def _env(pg_db, redis_url, namespace, emulator, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "OPENAI_"))}
    env.update(
        DATABASE_URL=pg_db,
        REDIS_URL=redis_url,
        SEOBATCH_REDIS_NAMESPACE=namespace,
        ANTHROPIC_API_KEY=TEST_KEY,
        GEMINI_API_KEY=TEST_KEY,
        ANTHROPIC_BASE_URL=emulator.url,
        GOOGLE_GEMINI_BASE_URL=emulator.url,
        OPENAI_API_KEY=TEST_KEY,
        OPENAI_BASE_URL=f"{emulator.url}/v1",
        SEOBATCH_POLL_INTERVAL="1",
        SEOBATCH_POLL_MAX_INTERVAL="1",
        SEOBATCH_SUBSCRIBERS="seobatch.subscribers.audit_log",
        SEOBATCH_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        SEOBATCH_BATCH_MAX_REQUESTS="15",
        dramatiq_prom_port=str(free_port()),  # the metrics exposition of this worker only
    )
    return env


def _seobatch(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seobatch", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4o-mini"])
def test_a_worker_process_completes_a_run_queued_on_redis(pg_db, redis_url, redis_namespace, emulator_1s, tmp_path,
                                                          model):
    # Given 20 pages in PostgreSQL, a run split in two jobs of at most 15, queued on Redis
    make_pages(20)
    env = _env(pg_db, redis_url, redis_namespace, emulator_1s, tmp_path)
    queued = _seobatch(env, "run", "--model", model)
    assert queued.returncode == 0, queued.stderr
    assert "queued" in queued.stdout
    first = SeoBatchJob.select().order_by(SeoBatchJob.id).first()
    assert first.status == "collecting"  # nothing runs it yet
    # When a dramatiq worker process starts
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "actors", "--processes", "1", "--threads", "4", "--queues", "seobatch"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        ids = wait_for(lambda: _chain_if_ended(first.id), timeout=60, interval=0.2)
    finally:
        _stop(worker)
        log.close()
    # Then both jobs completed with every page, counts and cost at batch prices
    rows = [job(i) for i in ids]
    assert [r.status for r in rows] == ["completed", "completed"], (tmp_path / "worker.log").read_text()[-3000:]
    assert [r.succeeded_count for r in rows] == [15, 5]
    for r in rows:
        meta = r.metadata
        assert meta["cost_usd"] == pytest.approx(
            batch_cost(r.model, meta["input_tokens"], meta["output_tokens"]), abs=1e-6)
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    assert emulator_1s.stats()[provider_for_model(model)]["batches_created"] == 2
    # And the subscriber in the worker heard each transition exactly once
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    seen = sorted((e["event"], e["job_id"]) for e in lines)
    assert seen == sorted([(name, i) for i in ids for name in ("job_submitted", "job_completed")])
    # And `seobatch jobs`-style reporting reads them back
    listed = _seobatch(env, "recover")
    assert listed.returncode == 0 and "nothing to recover" in listed.stdout


def _chain_if_ended(first_id: int):
    from seobatch.runs import run_chain

    ids = run_chain(first_id)
    return ids if len(ids) == 2 and ended(ids) else None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
