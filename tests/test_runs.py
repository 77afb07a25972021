"""actors.inprocess: following a run's chain of jobs costs one query per refresh."""

from __future__ import annotations

from seobatch.runs import run_chain, run_chains
from seobatch import db
from seobatch.models import SeoBatchJob


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
