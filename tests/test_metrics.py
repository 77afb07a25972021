"""Job metrics: the values match the database, the text parses, the worker serves both."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from seobatch import db, metrics  # noqa: E402
from seobatch.cli import main  # noqa: E402
from seobatch.config import Settings  # noqa: E402
from seobatch.models import SeoBatchEvent, SeoBatchJob  # noqa: E402

from tests.support.net import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def finished(model: str, batch: str, *, counts=(0, 0, 0), cost=None, minutes: float = 10) -> SeoBatchJob:
    job = SeoBatchJob.create(model=model, status="submitting")
    assert job.mark_submitted(batch)
    assert job.mark_completed(*counts, extra_metadata=None if cost is None else {"cost_usd": cost})
    SeoBatchJob.update(submitted_at=job.completed_at - timedelta(minutes=minutes)).where(
        SeoBatchJob.id == job.id).execute()
    return job


@pytest.fixture
def jobs_in_every_state(any_db):
    finished("claude-sonnet-4-5", "b1", counts=(8, 1, 1), cost=0.5, minutes=2)
    finished("claude-sonnet-4-5", "b2", counts=(10, 0, 0), cost=0.25, minutes=45)
    finished("gemini-2.5-flash", "g1", counts=(3, 2, 0), cost=None, minutes=300)
    SeoBatchJob.create(model="gemini-2.5-flash", status="processing", total_pages=7)
    stuck = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting")
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(hours=2)).where(
        SeoBatchJob.id == stuck.id).execute()
    SeoBatchJob.create(model="gemini-2.5-flash").mark_failed("boom")
    # One event left undelivered (its process died before delivery)
    SeoBatchEvent.update(published_at=None).where(SeoBatchEvent.id == 1).execute()
    return any_db


def sample(reg, name: str, **labels) -> float | None:
    return reg.get_sample_value(name, labels)


def test_collector_values_match_the_database(jobs_in_every_state):
    reg = metrics.registry()
    claude = {"model": "claude-sonnet-4-5", "provider": "anthropic"}
    gemini = {"model": "gemini-2.5-flash", "provider": "gemini"}
    # Jobs by status (absent statuses are 0, not missing)
    assert sample(reg, "seobatch_jobs", status="completed", **claude) == 2
    assert sample(reg, "seobatch_jobs", status="submitting", **claude) == 1
    assert sample(reg, "seobatch_jobs", status="collecting", **claude) == 0
    assert sample(reg, "seobatch_jobs", status="processing", **gemini) == 1
    assert sample(reg, "seobatch_jobs", status="failed", **gemini) == 1
    assert sample(reg, "seobatch_job_pages", status="processing", **gemini) == 7
    # Items by outcome over completed jobs
    assert sample(reg, "seobatch_items_total", outcome="succeeded", **claude) == 18
    assert sample(reg, "seobatch_items_total", outcome="errored", **claude) == 1
    assert sample(reg, "seobatch_items_total", outcome="expired", **claude) == 1
    assert sample(reg, "seobatch_items_total", outcome="errored", **gemini) == 2
    # Turnaround histogram: 2 min and 45 min for claude, 5 h for gemini
    assert sample(reg, "seobatch_job_turnaround_seconds_count", **claude) == 2
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="300.0", **claude) == 1
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="3600.0", **claude) == 2
    assert sample(reg, "seobatch_job_turnaround_seconds_sum", **claude) == pytest.approx(47 * 60, abs=1)
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="14400.0", **gemini) == 0
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="28800.0", **gemini) == 1
    # Cost: recorded costs summed; a job without one counted as unknown
    assert sample(reg, "seobatch_cost_usd_total", **claude) == pytest.approx(0.75)
    assert sample(reg, "seobatch_cost_usd_total", **gemini) == 0
    assert sample(reg, "seobatch_cost_unknown_jobs_total", **gemini) == 1
    assert sample(reg, "seobatch_last_completed_timestamp_seconds", **claude) == pytest.approx(
        time.time(), abs=120)
    # Stuck-job and outbox signals
    assert sample(reg, "seobatch_oldest_active_job_seconds", status="submitting") == pytest.approx(
        7200, abs=120)
    assert sample(reg, "seobatch_oldest_active_job_seconds", status="collecting") == 0
    assert sample(reg, "seobatch_events_undelivered") == 1
    assert sample(reg, "seobatch_database_up") == 1


def seed_completed(n: int, *, model: str = "claude-sonnet-4-5") -> None:
    """``n`` completed jobs in bulk: 1 succeeded item and a 10-minute turnaround each;
    every third has no recorded cost, every fifth records a bool (not a cost)."""
    done = db.utcnow()
    rows = [
        {"model": model, "status": "completed", "succeeded_count": 1, "total_pages": 1,
         "submitted_at": done - timedelta(minutes=10), "completed_at": done,
         "metadata": {} if i % 3 == 0 else {"cost_usd": True} if i % 5 == 0 else {"cost_usd": 0.5}}
        for i in range(n)
    ]
    for start in range(0, n, 500):
        SeoBatchJob.insert_many(rows[start:start + 500]).execute()


class _CountingCursor:
    """A DB-API cursor that counts the rows fetched through it."""

    def __init__(self, cursor, tally: dict[str, int]):
        self._cursor, self._tally = cursor, tally

    def fetchone(self):
        row = self._cursor.fetchone()
        self._tally["rows"] += row is not None
        return row

    def fetchmany(self, *args):
        rows = self._cursor.fetchmany(*args)
        self._tally["rows"] += len(rows)
        return rows

    def fetchall(self):
        rows = self._cursor.fetchall()
        self._tally["rows"] += len(rows)
        return rows

    def __iter__(self):
        for row in self._cursor:
            self._tally["rows"] += 1
            yield row

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@pytest.fixture
def reads(any_db, monkeypatch):
    """The SELECTs the database runs, and the rows they return."""
    tally = {"queries": 0, "rows": 0}
    real = db.database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        cursor = real(sql, params, *args, **kwargs)
        if not sql.lstrip().upper().startswith("SELECT"):
            return cursor
        tally["queries"] += 1
        return _CountingCursor(cursor, tally)

    monkeypatch.setattr(db.database.obj, "execute_sql", counting)
    return tally


def scrape_cost(reads) -> tuple[int, int]:
    reads.update(queries=0, rows=0)
    reg = metrics.registry()
    assert sample(reg, "seobatch_database_up") == 1
    return reads["queries"], reads["rows"]


def test_a_scrape_costs_the_same_at_10_jobs_as_at_1000(reads):
    # Given 10 completed jobs, one scrape's queries and fetched rows are counted
    seed_completed(10)
    at_10 = scrape_cost(reads)
    # When there are 1,000
    seed_completed(990)
    at_1000 = scrape_cost(reads)
    # Then the scrape ran as many queries and read as many rows: it aggregates in SQL
    assert at_1000 == at_10, (at_10, at_1000)
    assert at_10[0] <= 6 and at_10[1] <= 10, at_10
    # And the numbers are those of the 1,000 jobs
    reg = metrics.registry()
    claude = {"model": "claude-sonnet-4-5", "provider": "anthropic"}
    assert sample(reg, "seobatch_jobs", status="completed", **claude) == 1000
    assert sample(reg, "seobatch_items_total", outcome="succeeded", **claude) == 1000
    unknown = sum(1 for i in range(1000) if i % 3 == 0 or i % 5 == 0)
    assert sample(reg, "seobatch_cost_unknown_jobs_total", **claude) == unknown
    assert sample(reg, "seobatch_cost_usd_total", **claude) == pytest.approx(0.5 * (1000 - unknown))
    assert sample(reg, "seobatch_job_turnaround_seconds_count", **claude) == 1000
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="300.0", **claude) == 0
    assert sample(reg, "seobatch_job_turnaround_seconds_bucket", le="900.0", **claude) == 1000
    assert sample(reg, "seobatch_job_turnaround_seconds_sum", **claude) == pytest.approx(600_000)


def test_exposition_text_parses_as_prometheus_format(jobs_in_every_state):
    text = metrics.exposition().decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"seobatch_jobs", "seobatch_items", "seobatch_job_turnaround_seconds",
            "seobatch_cost_usd", "seobatch_events_undelivered", "seobatch_database_up"} <= set(families)
    assert families["seobatch_job_turnaround_seconds"].type == "histogram"
    assert families["seobatch_items"].type == "counter"


def test_an_unreachable_database_answers_with_database_up_zero(tmp_path):
    db.configure(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        reg = metrics.registry()
        assert sample(reg, "seobatch_database_up") == 0
        assert sample(reg, "seobatch_jobs", status="completed", model="x", provider="y") is None
    finally:
        db.database.close()


def test_the_metrics_server_answers_over_http(jobs_in_every_state):
    server = metrics.make_metrics_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as r:
            body = r.read().decode()
            assert r.status == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert 'seobatch_jobs{model="claude-sonnet-4-5",provider="anthropic",status="completed"} 2.0' in body


def test_cli_metrics_once_prints_the_metrics(jobs_in_every_state, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", jobs_in_every_state)
    assert main(["metrics", "--once"]) == 0
    families = {f.name for f in text_string_to_metric_families(capsys.readouterr().out)}
    assert "seobatch_jobs" in families


@pytest.mark.slow
def test_a_dramatiq_worker_serves_dramatiq_and_job_metrics_on_one_port(
    sqlite_db, redis_url, redis_namespace, tmp_path
):
    # Given a job in the database and a real dramatiq worker whose broker called actors.metrics.install()
    finished("claude-sonnet-4-5", "b1", counts=(5, 0, 0), cost=0.1)
    db.database.close()
    port = free_port()
    env = {
        **os.environ, "REDIS_URL": redis_url, "TEST_NAMESPACE": redis_namespace,
        "DATABASE_URL": sqlite_db, "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(port), "dramatiq_prom_db": str(tmp_path / "prom"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    (tmp_path / "prom").mkdir()
    worker = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "tests.support.metrics_worker_app", "--processes", "1",
         "--threads", "1"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        # When a message is processed
        from dramatiq import Message
        from dramatiq.brokers.redis import RedisBroker

        sender = RedisBroker(url=redis_url, namespace=redis_namespace)
        sender.declare_queue("default")
        sender.enqueue(Message(queue_name="default", actor_name="ping", args=(), kwargs={},
                               options={}))
        # Then one scrape shows Dramatiq's message counter and the job metrics together
        body, deadline = "", time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                if "dramatiq_messages_total{" in body:
                    break
            except OSError:
                pass
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.3)
        assert 'dramatiq_messages_total{actor_name="ping",queue_name="default"} 1.0' in body
        assert ('seobatch_jobs{model="claude-sonnet-4-5",provider="anthropic",status="completed"}'
                ' 1.0') in body
        assert "seobatch_database_up 1.0" in body
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_job_whose_every_item_errored_is_a_series_an_alert_can_fire_on(any_db):
    finished("claude-sonnet-4-5", "ok", counts=(8, 2, 0))
    finished("claude-sonnet-4-5", "w1", counts=(0, 20, 0))
    finished("claude-sonnet-4-5", "w2", counts=(0, 5, 1))
    finished("claude-sonnet-4-5", "none", counts=(0, 0, 0))  # nothing to do is not a wipe-out
    reg = metrics.registry()
    assert sample(reg, "seobatch_jobs_all_errored", model="claude-sonnet-4-5", provider="anthropic") == 2


def test_a_compatible_endpoints_jobs_are_labelled_openai_by_the_settings_they_run_with(any_db):
    job = SeoBatchJob.create(model="selfhost-llama-3", status="submitting", metadata={"provider": "openai"})
    assert job.mark_submitted("c1") and job.mark_completed(4, 0, 0)
    configured = Settings.from_env({"SEOBATCH_COMPAT_ENDPOINTS": "selfhost-=http://127.0.0.1:9/v1 key=K", "K": "x"})
    labelled = metrics.registry(settings=configured)
    assert sample(labelled, "seobatch_items_total", outcome="succeeded", model="selfhost-llama-3",
                  provider="openai") == 4
    # Without those settings the model routes nowhere: "unknown", never another provider
    bare = metrics.registry()
    assert sample(bare, "seobatch_items_total", outcome="succeeded", model="selfhost-llama-3",
                  provider="unknown") == 4
