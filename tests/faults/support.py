"""What the fault tests share: settings, a golden run, a run driver, and the real worker
process helpers (its environment, the ``seobatch`` CLI as a child, a fresh worker to finish)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg2

from seobatch import jobmeta as jm
from seobatch.config import Settings
from seobatch.db import COLLECT_LOCK_KEY
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.providers.openai import OpenAIBatches
from seobatch.runs import run_chain
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff

from tests.faults import golden
from tests.faults.procs import ROOT, Worker
from tests.support.canaries import CANARIES, CANARY_ANTHROPIC, CANARY_GEMINI, CANARY_OPENAI
from tests.support.net import free_port
from tests.support.pages import seed_pages
from tests.support.pipeline import drive, make_settings
from tests.support.waiting import wait_for

#: The worker's database application_name (tests find its connections by it).
APP = "seobatch-fault-worker"

MODELS = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini"}


def fault_settings(emulator: Any = None, **overrides: Any) -> Settings:
    """Settings for a fault test: canary keys, the emulator, short waits everywhere."""
    base: dict[str, Any] = dict(
        anthropic_api_key=CANARY_ANTHROPIC,
        gemini_api_key=CANARY_GEMINI,
        openai_api_key=CANARY_OPENAI,
        submit_lease_seconds=2,
        http_timeout=2.0,
        http_retries=2,
        chunk_size=7,
    )
    base.update(overrides)
    return make_settings(emulator, **base)


def keep_openai_files(monkeypatch: Any) -> None:
    """OpenAI's files are deleted once the results are saved: keep them, for a test that
    reads back what the provider served."""
    monkeypatch.setattr(OpenAIBatches, "delete_files", lambda self, batch: None)


def run_steps(job_id: int) -> list:
    return [Step("collect", job_id)]


def kickoff_run(settings: Settings, model: str | None = None, **kw: Any) -> int:
    return kickoff(settings=settings, model=model, **kw).job.id


def run_by_hand(settings: Settings, model: str | None = None, **kw: Any) -> int:
    """The whole run, stage after stage in this thread (no broker): the golden path."""
    job_id = kickoff_run(settings, model, **kw)
    drive(run_steps(job_id), settings)
    return job_id


def golden_run(emulator: Any, settings: Settings, pages: int, model: str | None = None,
               setup: Callable[[], None] | None = None, **kw: Any) -> dict[str, Any]:
    """Run the input fault-free, snapshot the tables, then empty them and re-seed the same
    pages so the fault run starts from the same input; the emulator starts afresh."""
    seed_pages(pages)
    if setup:
        setup()
    run_by_hand(settings, model, **kw)
    snap = golden.snapshot()
    assert all(j["status"] in jm.TERMINAL_STATUSES for j in snap["jobs"])
    golden.wipe()
    emulator.reset()
    seed_pages(pages)
    if setup:
        setup()
    return snap


def chain(first_id: int) -> list[int]:
    return run_chain(first_id)


def run_ended(first_id: int) -> bool:
    ids = chain(first_id)
    statuses = [s for (s,) in SeoBatchJob.select(SeoBatchJob.status).where(SeoBatchJob.id.in_(ids)).tuples()]
    return bool(statuses) and all(s in jm.TERMINAL_STATUSES for s in statuses)


def wait_run(first_id: int, timeout: float = 30.0) -> list[int]:
    wait_for(lambda: run_ended(first_id), timeout=timeout, interval=0.05)
    # Events are delivered right after the commit that ended the job; give it a moment.
    wait_for(lambda: golden.undelivered_events() == 0, timeout=30, interval=0.02)
    return chain(first_id)


def dump_tables() -> str:
    """Every row of every table as text (for canary scans)."""
    parts = []
    for model in (Page, SeoBatchJob, SeoBatchItem, SeoBatchEvent):
        for row in model.select().tuples():
            parts.append(repr(row))
    return "\n".join(parts)


def stopwatch() -> Callable[[], float]:
    start = time.monotonic()
    return lambda: time.monotonic() - start


def worker_env(db_url: str, redis_url: str, namespace: str, emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "OPENAI_")) and k != "REDIS_URL"}
    sep = "&" if "?" in db_url else "?"
    env.update(
        DATABASE_URL=f"{db_url}{sep}application_name={APP}",
        REDIS_URL=redis_url,
        SEOBATCH_REDIS_NAMESPACE=namespace,
        ANTHROPIC_API_KEY=CANARY_ANTHROPIC,
        GEMINI_API_KEY=CANARY_GEMINI,
        ANTHROPIC_BASE_URL=emulator.url,
        GOOGLE_GEMINI_BASE_URL=emulator.url,
        OPENAI_API_KEY=CANARY_OPENAI,
        OPENAI_BASE_URL=f"{emulator.url}/v1",
        SEOBATCH_POLL_INTERVAL="0",
        SEOBATCH_POLL_MAX_INTERVAL="1",
        SEOBATCH_SUBMIT_LEASE="2",
        SEOBATCH_SUBMIT_TIME_LIMIT="2",
        SEOBATCH_SUBMIT_SETTLE="5",
        SEOBATCH_STALE_AFTER="1",
        SEOBATCH_CHUNK_SIZE="10",
        SEOBATCH_REDIS_HEARTBEAT_MS="3000",
        SEOBATCH_REDIS_MAINTENANCE_CHANCE="1000000",
        dramatiq_prom_port=str(free_port()),
    )
    env.update(extra)
    return env


def seobatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seobatch", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def first_job() -> SeoBatchJob:
    return SeoBatchJob.select().order_by(SeoBatchJob.id).first()


def assert_no_canaries(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, "S1: a canary key leaked"


def finish_with_fresh_worker(env, tmp_path, job_id: int, name: str = "worker2") -> tuple[Worker, str]:
    """A fresh worker plus `seobatch recover` (once the job counts as stalled) until the run ends."""
    worker = Worker(env, tmp_path / f"{name}.log")
    recovered = ""
    try:
        deadline = time.monotonic() + 60
        while not run_ended(job_id):
            assert time.monotonic() < deadline, worker.text()[-3000:]
            if not recovered or "enqueued again" not in recovered:
                out = seobatch(env, "recover")
                assert out.returncode == 0, out.stderr
                recovered += out.stdout
            time.sleep(0.5)
        wait_for(lambda: golden.undelivered_events() == 0, 10, what="events delivered")
    finally:
        worker.stop()
    return worker, recovered


#: Pages of a worker-process fault run.
PAGES = 30


class CollectorLock:
    """Holds the collectors' advisory lock from a connection of the test's own, so the
    worker's collect blocks inside its chunk transaction — a place it can be killed."""

    # The collectors' lock is keyed by (key, schema): this connection keeps the URL's
    # search_path so it takes the very lock the worker waits on.
    LOCK = "(%s, hashtext(current_schema()))"

    def __init__(self, dsn_url: str) -> None:
        self.conn = psycopg2.connect(dsn_url.replace("postgresql://", "postgres://", 1))
        self.conn.autocommit = True

    def take(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock" + self.LOCK, (COLLECT_LOCK_KEY,))

    def let_one_chunk_through(self) -> None:
        """Release and take again: the waiting collector commits one chunk in between."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock" + self.LOCK, (COLLECT_LOCK_KEY,))
            cur.execute("SELECT pg_advisory_lock" + self.LOCK, (COLLECT_LOCK_KEY,))

    def worker_waiting(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", (APP,))
            return cur.fetchone()[0] > 0

    def release(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock_all()")
        self.conn.close()
