"""The pipeline's commands: run (--dry-run, in-process), recover, cancel, demo."""

from __future__ import annotations

import logging
import re

import pytest
from pipeline_support import TEST_KEY, make_pages

from seobatch.cli import main
from seobatch.models import Page, SeoBatchItem, SeoBatchJob


@pytest.fixture
def env(monkeypatch, sqlite_db, emulator):
    """The environment of an operator's shell: SQLite, the emulator, no Redis."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name in list(__import__("os").environ):
        if name.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_")) or name == "REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", sqlite_db)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    monkeypatch.setenv("SEOBATCH_POLL_INTERVAL", "0")
    monkeypatch.setenv("SEOBATCH_POLL_MAX_INTERVAL", "1")
    yield emulator
    root.handlers[:] = handlers
    root.setLevel(level)


def test_dry_run_prints_the_plan_and_writes_nothing(env, capsys):
    make_pages(12)
    assert main(["run", "--dry-run", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "pages to do:     10" in out and "jobs (batches):  1" in out and "estimated cost:  at most $" in out
    assert SeoBatchJob.select().count() == 0 and SeoBatchItem.select().count() == 0
    assert env.stats()["anthropic"]["create"] == 0


def test_run_without_redis_works_the_run_here_and_exits_0(env, capsys):
    make_pages(5)
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "job 1 completed: 5 succeeded, 0 errored, 0 expired; cost $" in out
    assert Page.select().where(Page.seo_title.is_null()).count() == 0


def test_run_wait_exits_1_when_a_job_fails(env, capsys):
    make_pages(3)
    assert main(["run", "--wait", "--max-cost", "0.000001"]) == 1
    assert "job 1 failed: estimated cost" in capsys.readouterr().out
    assert SeoBatchJob.get().status == "failed"


def test_run_refuses_an_unknown_model_in_one_line_before_any_job(env, capsys):
    assert main(["run", "--model", "gpt-4o"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model 'gpt-4o'" in err
    assert SeoBatchJob.select().count() == 0


def test_recover_and_cancel(env, capsys):
    assert main(["recover"]) == 0
    assert "nothing to recover" in capsys.readouterr().out
    job = SeoBatchJob.create(status="collecting")
    assert main(["cancel", str(job.id)]) == 0
    assert "canceled before submission" in capsys.readouterr().out
    assert SeoBatchJob.get_by_id(job.id).status == "failed"
    assert main(["cancel", str(job.id)]) == 1
    assert "already failed" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_gives_every_sample_page_a_title_and_description(monkeypatch, capsys, tmp_path):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["demo", "--processing-seconds", "0.5"]) == 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr().out
    done = re.search(r"job 1 completed: (\d+) succeeded, (\d+) errored, 0 expired", out)
    assert done and int(done[1]) + int(done[2]) == 36 and int(done[2]) > 0
    # Every page has its new title, or says why the gate rejected its reply (it keeps its own).
    assert out.count("  title:       ") == 36
    assert out.count("title:       -") == out.count("  rejected:    quality: ") == int(done[2])
    assert "audit of " in out and "published values" in out  # the audit summary
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_run_wait_sweeps_first_and_follows_the_stalled_jobs_too(env, capsys):
    from datetime import timedelta

    from seobatch import db

    # Given a run left collecting by a process that died 20 hours ago
    make_pages(4)
    stuck = SeoBatchJob.create(model="claude-sonnet-4-5", status="collecting", metadata={"run": "dead"})
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(hours=20)).execute()
    # When the operator runs and waits here
    assert main(["run", "--wait"]) == 0
    captured = capsys.readouterr()
    # Then the stalled job was worked and reported, and the new run started after it
    assert f"job {stuck.id}: collecting" in captured.err
    assert f"job {stuck.id} completed: 4 succeeded" in captured.out
    assert [j.status for j in SeoBatchJob.select().order_by(SeoBatchJob.id)] == ["completed", "completed"]
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
