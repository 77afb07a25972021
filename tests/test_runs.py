"""seobatch.runs: a run's chain of jobs in one query; start_run sweeps first, everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pipeline_support import make_pages, make_settings

from seobatch import db
from seobatch.errors import AlreadyRunning, ConfigError
from seobatch.jobmeta import JobStatus
from seobatch.models import SeoBatchJob
from seobatch.runs import run_chain, run_chains, start_run
from seobatch.stages import Step


def _chain(n: int, model: str = "claude-sonnet-4-5") -> list[int]:
    ids = [SeoBatchJob.create(model=model, status="completed", metadata={}).id for _ in range(n)]
    for a, b in zip(ids, ids[1:]):
        SeoBatchJob.update(metadata={"next_job_id": b}).where(SeoBatchJob.id == a).execute()
    return ids


def test_a_runs_chain_is_read_in_one_query_however_long(any_db, monkeypatch):
    first = _chain(6)
    other = _chain(3)
    SeoBatchJob.create(model="claude-sonnet-4-5", status="completed", metadata={})  # not in a chain
    database = db.database.obj
    statements: list[str] = []
    real = database.execute_sql
    monkeypatch.setattr(database, "execute_sql", lambda sql, *a, **kw: statements.append(sql) or real(sql, *a, **kw))
    assert run_chain(first[0]) == first
    assert run_chains([other[0], first[0]]) == sorted(first + other)
    assert len(statements) == 2  # one per call, not one per job


class BrokerStandIn:
    """The ``Queue`` start_run sends through, keeping what was sent in order (no workers)."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def check_reachable(self, settings) -> None:
        self.events.append(("check", SeoBatchJob.select().count()))

    def send(self, steps) -> None:
        self.events.extend(list(steps))

    def work(self, steps, settings, *, swept=(), start=None):
        raise AssertionError("a queued run is not worked here")


def _stalled(settings) -> int:
    job = SeoBatchJob.create(model=settings.model, status=JobStatus.PROCESSING, metadata={})
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(hours=20)).where(SeoBatchJob.id == job.id).execute()
    return job.id


def test_a_queued_run_checks_the_broker_then_sweeps_then_kicks_off(any_db, emulator):
    # Given a job left stalled by last night and pages to do
    settings = make_settings(emulator)
    stalled = _stalled(settings)
    make_pages(2)
    queue = BrokerStandIn()
    # When a run is started for the workers
    done = start_run(settings, queue=queue, source="cli")
    # Then the broker was checked before any new job, the stalled job went first, then the run
    assert done.first_job_id is not None and not done.waited and not done.failed
    assert queue.events == [("check", 1), Step("poll", stalled), Step("collect", done.first_job_id)]
    assert [s.job_id for s in done.recovery.stalled] == [stalled]


def test_a_run_still_collecting_is_an_error_or_for_cron_nothing_to_do(any_db, emulator):
    settings = make_settings(emulator)
    make_pages(2)
    start_run(settings, queue=BrokerStandIn())
    with pytest.raises(AlreadyRunning):
        start_run(settings, queue=BrokerStandIn())
    queue = BrokerStandIn()
    done = start_run(settings, queue=queue, source="kickoff", skip_if_running=True)
    assert done.first_job_id is None and queue.events == [("check", 1)]
    assert SeoBatchJob.select().count() == 1


def test_a_bad_limit_is_refused_before_anything_is_written(any_db, emulator):
    queue = BrokerStandIn()
    with pytest.raises(ConfigError, match="--limit must be at least 1"):
        start_run(make_settings(emulator), queue=queue, limit=0)
    assert queue.events == [] and SeoBatchJob.select().count() == 0
