"""Issue 11 findings 1 and 22: every process that delivers events calls the subscriber
modules of SEOBATCH_SUBSCRIBERS, an event counts as delivered only when each of them
returned, and one that raises is recorded, retried, then failed and shown.

The subscribers are real modules (files in tmp_path on PYTHONPATH) that append a JSON
line per event to a file; the processes are the real CLI, the Procfile's clock and a
``dramatiq actors`` worker (one of them SIGKILLed inside a subscriber).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from seobatch.db import utcnow
from seobatch.jobmeta import JobStatus
from seobatch.models import SeoBatchEvent, SeoBatchJob

from tests.faults.procs import ROOT, Worker
from tests.support.canaries import CANARY_ANTHROPIC, CANARY_GEMINI
from tests.support.net import free_port
from tests.support.pages import seed_pages
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

HOOKS = '''
"""A subscriber of the test: one JSON line per event, in the file configure() names."""
import json, os, time
from seobatch import events

_path = None

def configure(settings):
    global _path
    _path = settings.audit_log

def _write(name, data, **extra):
    with open(_path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": name, "job_id": data["job_id"],
                              "event_id": data["event_id"], "pid": os.getpid(), **extra}) + "\\n")

@events.job_submitted.connect
def on_submitted(job, **data):
    _write("job_submitted", data)

@events.job_completed.connect
def on_completed(job, **data):
    if os.environ.get("HOOK_SLEEP_ON_COMPLETED"):  # to be killed in here
        _write("job_completed", data, started=True)
        time.sleep(120)
    _write("job_completed", data)

@events.job_failed.connect
def on_failed(job, **data):
    _write("job_failed", data)
'''

RAISING = '''
"""A broken subscriber of the test: raises on every event (with a key in its message)."""
import os
from seobatch import events

@events.job_failed.connect
def on_failed(job, **data):
    raise RuntimeError("subscriber bug on purpose, key " + os.environ["ANTHROPIC_API_KEY"])
'''


class Hooks:
    """The subscriber modules written to tmp_path, and what they heard."""

    def __init__(self, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.dir = tmp_path / "hooks"
        self.dir.mkdir()
        self.name = f"hooks_{tag}"
        self.raising = f"raising_{tag}"
        (self.dir / f"{self.name}.py").write_text(textwrap.dedent(HOOKS))
        (self.dir / f"{self.raising}.py").write_text(textwrap.dedent(RAISING))
        self.file = tmp_path / "heard.jsonl"

    def heard(self) -> list[dict]:
        if not self.file.exists():
            return []
        return [json.loads(line) for line in self.file.read_text().splitlines() if line.strip()]

    def done(self, event: str) -> list[dict]:
        return [h for h in self.heard() if h["event"] == event and not h.get("started")]


@pytest.fixture
def hooks(tmp_path) -> Hooks:
    return Hooks(tmp_path)


def env_for(db_url: str, hooks: Hooks, *modules: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "HOOK_"))
           and k not in ("REDIS_URL", "PYTHONPATH")}
    env.update(
        DATABASE_URL=db_url,
        PYTHONPATH=str(hooks.dir),
        SEOBATCH_SUBSCRIBERS=",".join(modules or (hooks.name,)),
        SEOBATCH_AUDIT_LOG=str(hooks.file),
        ANTHROPIC_API_KEY=CANARY_ANTHROPIC,
        GEMINI_API_KEY=CANARY_GEMINI,
    )
    env.update(extra)
    return env


def seobatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "seobatch", *args], env=env, cwd=ROOT, check=False,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


def event_of(job_id: int) -> SeoBatchEvent:
    return SeoBatchEvent.get(SeoBatchEvent.job == job_id)


def committed_undelivered(status: str = JobStatus.FAILED, name: str = "job_failed") -> SeoBatchEvent:
    """An event whose process died before delivering it (committed a minute ago)."""
    job = SeoBatchJob.create(status=status)
    return SeoBatchEvent.create(job=job, name=name, payload=job.event_payload(),
                                created_at=utcnow() - timedelta(minutes=1))


def test_seobatch_cancel_delivers_to_the_subscriber_modules(any_db, hooks):
    # Given a job waiting to be submitted, and a subscriber module named in the CLI's env
    job = SeoBatchJob.create(status=JobStatus.COLLECTING)
    # When the operator cancels it from the command line
    out = seobatch(env_for(any_db, hooks), "cancel", str(job.id))
    # Then the subscriber ran in that process, and the event is delivered to it
    assert "canceled before submission" in out.stdout
    (heard,) = hooks.done("job_failed")
    event = event_of(job.id)
    assert (heard["job_id"], heard["event_id"]) == (job.id, event.id)
    assert heard["pid"] != os.getpid()
    assert event.published_at is not None
    assert event.delivered_to == [f"{hooks.name}.on_failed"]
    assert "to 1 subscriber" in seobatch(env_for(any_db, hooks), "job", str(job.id)).stdout


def test_seobatch_recover_runs_the_subscribers_of_an_undelivered_event(any_db, hooks):
    event = committed_undelivered()
    out = seobatch(env_for(any_db, hooks), "recover")
    assert "delivered 1 undelivered event(s)" in out.stdout
    assert [(h["job_id"], h["event_id"]) for h in hooks.done("job_failed")] == [(event.job_id, event.id)]
    assert SeoBatchEvent.get_by_id(event.id).published_at is not None


def test_a_raising_subscriber_is_recorded_retried_then_failed_and_shown(any_db, hooks):
    # Given two subscriber modules, one of which raises on every event
    env = env_for(any_db, hooks, hooks.name, hooks.raising, SEOBATCH_EVENT_MAX_ATTEMPTS="2")
    job = SeoBatchJob.create(status=JobStatus.COLLECTING)
    seobatch(env, "cancel", str(job.id))
    # Then the good one heard it, the event is not delivered: the broken one is named,
    # its error recorded without the key, and a retry is due later
    assert len(hooks.done("job_failed")) == 1
    event = event_of(job.id)
    assert event.published_at is None and event.failed_at is None and event.attempts == 1
    assert event.delivered_to == [f"{hooks.name}.on_failed"]
    assert f"{hooks.raising}.on_failed: RuntimeError: subscriber bug on purpose" in event.last_error
    assert CANARY_ANTHROPIC not in event.last_error
    assert event.next_attempt_at > utcnow()
    shown = seobatch(env, "job", str(job.id)).stdout
    assert "retry" in shown and "attempt 1 failed" in shown and hooks.raising in shown
    # When the sweep runs before the backoff is over, nothing is sent
    assert "nothing to recover" in seobatch(env, "recover").stdout
    # When it runs after it: the last allowed attempt fails too, only the broken one is called
    SeoBatchEvent.update(next_attempt_at=utcnow() - timedelta(seconds=1)).where(
        SeoBatchEvent.id == event.id).execute()
    seobatch(env, "recover")
    event = event_of(job.id)
    assert event.failed_at is not None and event.published_at is None and event.attempts == 2
    assert len(hooks.done("job_failed")) == 1, "a subscriber that returned is not called again"
    # Then the job and the metrics show it failed, and no sweep sends it again
    shown = seobatch(env, "job", str(job.id)).stdout
    assert "failed" in shown.split("events", 1)[1] and "after 2 attempts" in shown
    assert CANARY_ANTHROPIC not in shown
    metrics = seobatch(env, "metrics", "--once").stdout
    assert "seobatch_events_failed 1.0" in metrics and "seobatch_events_undelivered 0.0" in metrics
    SeoBatchEvent.update(next_attempt_at=None).where(SeoBatchEvent.id == event.id).execute()
    assert "nothing to recover" in seobatch(env, "recover").stdout


@pytest.mark.redis
def test_the_clocks_sweep_runs_the_subscribers(any_db, hooks, redis_url, redis_namespace, tmp_path):
    event = committed_undelivered()
    env = env_for(any_db, hooks, REDIS_URL=redis_url, SEOBATCH_REDIS_NAMESPACE=redis_namespace,
                  SEOBATCH_RECOVER_INTERVAL="1")
    with open(tmp_path / "clock.log", "w") as log:
        clock = subprocess.Popen([sys.executable, "scripts/clock.py"], env=env, cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: hooks.done("job_failed"), 30, what="the clock's sweep to deliver")
        finally:
            clock.send_signal(signal.SIGTERM)
            clock.wait(15)
    (heard,) = hooks.done("job_failed")
    assert (heard["event_id"], heard["pid"]) == (event.id, clock.pid)
    wait_for(lambda: SeoBatchEvent.get_by_id(event.id).published_at is not None, 10,
               what="published_at")


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_killed_inside_a_subscriber_leaves_the_event_to_recover_which_runs_it(
    pg_db, hooks, redis_url, redis_namespace, emulator, tmp_path
):

    # Given a Procfile worker on Redis + PostgreSQL whose subscriber hangs in job_completed
    seed_pages(3)
    env = env_for(pg_db, hooks, REDIS_URL=redis_url, SEOBATCH_REDIS_NAMESPACE=redis_namespace,
                  ANTHROPIC_BASE_URL=emulator.url, GOOGLE_GEMINI_BASE_URL=emulator.url,
                  SEOBATCH_POLL_INTERVAL="0", SEOBATCH_POLL_MAX_INTERVAL="1",
                  dramatiq_prom_port=str(free_port()))
    seobatch(env, "run", "--model", "claude-haiku-4-5")
    job_id = SeoBatchJob.select().order_by(SeoBatchJob.id).first().id
    worker = Worker({**env, "HOOK_SLEEP_ON_COMPLETED": "1"}, tmp_path / "worker.log")
    try:
        wait_for(lambda: any(h.get("started") for h in hooks.heard()), 60,
                   what="the worker inside the subscriber")
        # When the worker is SIGKILLed there
        assert worker.kill_child() != 0
    finally:
        worker.stop()
    # Then the worker delivered job_submitted to the subscriber, and job_completed is not delivered
    (submitted,) = hooks.done("job_submitted")
    assert submitted["job_id"] == job_id and submitted["pid"] != os.getpid()
    assert hooks.done("job_completed") == []
    completed = SeoBatchEvent.get((SeoBatchEvent.job == job_id) & (SeoBatchEvent.name == "job_completed"))
    assert completed.published_at is None and completed.claimed_until is not None
    # When its lease has run out (moved back: the real one is 5 minutes) and recover runs
    SeoBatchEvent.update(claimed_until=utcnow() - timedelta(seconds=1),
                         created_at=utcnow() - timedelta(minutes=1)).where(
        SeoBatchEvent.id == completed.id).execute()
    started = time.monotonic()
    out = seobatch(env, "recover")
    # Then the subscriber really ran, in recover's process, and the event is delivered
    assert "delivered 1 undelivered event(s)" in out.stdout, out.stdout
    (heard,) = hooks.done("job_completed")
    assert (heard["job_id"], heard["event_id"]) == (job_id, completed.id)
    assert heard["pid"] not in (os.getpid(), submitted["pid"])
    completed = SeoBatchEvent.get_by_id(completed.id)
    assert completed.published_at is not None and completed.attempts == 2
    assert completed.delivered_to == [f"{hooks.name}.on_completed"]
    assert time.monotonic() - started < 60


def test_seobatch_run_wait_delivers_to_the_subscriber_modules(sqlite_db, hooks, emulator):

    seed_pages(3)
    env = env_for(sqlite_db, hooks, ANTHROPIC_BASE_URL=emulator.url, SEOBATCH_POLL_INTERVAL="0",
                  SEOBATCH_POLL_MAX_INTERVAL="1")
    out = seobatch(env, "run", "--wait", "--model", "claude-haiku-4-5")
    job = SeoBatchJob.select().order_by(SeoBatchJob.id).first()
    assert job.status == JobStatus.COMPLETED, out.stdout + out.stderr
    heard = [(h["event"], h["job_id"]) for h in hooks.heard()]
    assert heard == [("job_submitted", job.id), ("job_completed", job.id)]
    assert {h["pid"] for h in hooks.heard()} != {os.getpid()}
    assert SeoBatchEvent.select().where(SeoBatchEvent.published_at.is_null()).count() == 0
