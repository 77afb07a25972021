"""The pipeline's commands: run (--dry-run, in-process), recover, cancel, demo."""

from __future__ import annotations

import re

import pytest

from seobatch.cli import main
from seobatch.models import Page, SeoBatchItem, SeoBatchJob

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY
from tests.support.shell import clear_operator_env, kept_root_logging


@pytest.fixture
def env(monkeypatch, sqlite_db, emulator):
    """The environment of an operator's shell: SQLite, the emulator, no Redis."""
    with kept_root_logging():
        clear_operator_env(monkeypatch)
        monkeypatch.setenv("DATABASE_URL", sqlite_db)
        monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
        monkeypatch.setenv("SEOBATCH_POLL_INTERVAL", "0")
        monkeypatch.setenv("SEOBATCH_POLL_MAX_INTERVAL", "1")
        yield emulator


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


def test_a_run_with_nothing_to_do_says_so_and_creates_no_job(env, capsys):
    make_pages(2)
    assert main(["run", "--wait"]) == 0
    capsys.readouterr()
    assert main(["run", "--wait"]) == 0
    out = capsys.readouterr().out
    assert "nothing to do: no page needs SEO from claude-sonnet-4-5" in out and "job 2" not in out
    assert SeoBatchJob.select().count() == 1


def test_run_wait_exits_1_when_a_job_fails(env, capsys):
    make_pages(3)
    assert main(["run", "--wait", "--max-cost", "0.000001"]) == 1
    assert "job 1 failed: estimated cost" in capsys.readouterr().out
    assert SeoBatchJob.get().status == "failed"


def test_run_refuses_an_unknown_model_in_one_line_before_any_job(env, capsys):
    assert main(["run", "--model", "llama-3-70b"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model 'llama-3-70b'" in err
    assert SeoBatchJob.select().count() == 0


def test_run_refuses_a_misspelled_model_unless_told_to_allow_it(env, capsys):
    make_pages(2)
    assert main(["run", "--model", "claude-sonet-4-5", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean claude-sonnet-4-5" in err
    assert SeoBatchJob.select().count() == 0
    assert main(["run", "--model", "claude-sonet-4-5", "--dry-run", "--allow-unknown-model"]) == 0
    out = capsys.readouterr().out
    assert "pages to do:     2" in out and "estimated cost:  unknown (no price for this model)" in out


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
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with kept_root_logging():
        assert main(["demo", "--processing-seconds", "0.5"]) == 0
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
    # (the swept job did every page, so the new run found nothing to do and made no job)
    assert "nothing to do" in captured.out
    assert [j.status for j in SeoBatchJob.select().order_by(SeoBatchJob.id)] == ["completed"]
    assert Page.select().where(Page.seo_title.is_null()).count() == 0


def test_runs_shows_a_split_run_as_one_line_and_its_jobs_together(env, monkeypatch, capsys):
    import json

    from seobatch import reports

    # Given a night split into 3 jobs (10 requests per batch, 25 pages), and a later small run
    make_pages(25)
    monkeypatch.setenv("SEOBATCH_BATCH_MAX_REQUESTS", "10")
    assert main(["run", "--wait"]) == 0
    make_pages(2, start=26)
    assert main(["run", "--wait"]) == 0
    capsys.readouterr()
    night = reports.run_detail(1)
    assert [j["id"] for j in night["jobs"]] == [1, 2, 3]
    # When the operator lists runs: the newest first, each split run one line, added up
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["FIRST", "JOB", "MODEL", "STATUS"]
    assert [line.split()[:9] for line in lines[1:]] == [
        ["4", "claude-sonnet-4-5", "completed", "1", "2", "2", "0", "0", "0"],
        ["1", "claude-sonnet-4-5", "completed", "3", "25", "25", "0", "0", "0"],
    ]
    # And any job of a run shows the whole run and a row per job, with the cost and duration
    assert main(["runs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:3] == ["1", "claude-sonnet-4-5", "completed"]
    assert [line.split()[0] for line in out.split("\n\n")[1].splitlines()[1:]] == ["1", "2", "3"]
    assert main(["runs", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["first_job_id"], data["job_count"], data["pages"], data["failed_jobs"]) == (1, 3, 25, [])
    assert data["cost_usd"] == pytest.approx(sum(j["cost_usd"] for j in data["jobs"]))
    assert data["duration_seconds"] >= 0 and data["ended_at"]
    assert main(["runs", "99"]) == 1


def test_the_dry_run_flags_a_max_cost_it_would_exceed_and_settings_the_workers_may_not_share(env, monkeypatch, capsys):
    make_pages(4)
    assert main(["run", "--dry-run", "--max-cost", "-1"]) == 1
    assert "--max-cost must not be negative" in capsys.readouterr().err
    assert main(["run", "--dry-run", "--max-cost", "0.000001"]) == 0
    out = capsys.readouterr().out
    assert "note:            a job's estimate (at most $" in out and "would fail before sending" in out
    assert main(["run", "--dry-run", "--max-cost", "100"]) == 0
    assert "note:" not in capsys.readouterr().out
    # A plan with other batch limits than the workers may have says so
    monkeypatch.setenv("SEOBATCH_BATCH_MAX_REQUESTS", "2")
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "jobs (batches):  2" in out and "the job split is the workers'" in out
    # And a prompt other than the one the last job was built with
    monkeypatch.delenv("SEOBATCH_BATCH_MAX_REQUESTS")
    assert main(["run", "--wait", "--limit", "1"]) == 0
    monkeypatch.setenv("SEOBATCH_TITLE_MAX", "65")
    capsys.readouterr()
    assert main(["run", "--dry-run"]) == 0
    assert "was built with prompt version" in capsys.readouterr().out
