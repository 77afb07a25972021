"""scripts/kickoff.py (cron) and the clock's sweep, as processes and functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline_support import TEST_KEY, make_pages

from seobatch.models import Page, SeoBatchJob

ROOT = Path(__file__).resolve().parents[1]


def _env(sqlite_db, emulator, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_")) and k != "REDIS_URL"}
    env.update(DATABASE_URL=sqlite_db, ANTHROPIC_API_KEY=TEST_KEY, ANTHROPIC_BASE_URL=emulator.url,
               SEOBATCH_POLL_INTERVAL="0", SEOBATCH_POLL_MAX_INTERVAL="1", **extra)
    return env


def test_the_cron_kickoff_runs_a_night_and_then_has_nothing_to_do(sqlite_db, emulator):
    make_pages(4)
    env = _env(sqlite_db, emulator)
    first = subprocess.run([sys.executable, "scripts/kickoff.py"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    again = subprocess.run([sys.executable, "scripts/kickoff.py"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert [j.status for j in SeoBatchJob.select().order_by(SeoBatchJob.id)] == ["completed", "completed"]
    assert SeoBatchJob.select().order_by(SeoBatchJob.id.desc()).first().total_pages == 0


def test_the_cron_kickoff_reports_a_bad_model_in_one_line(sqlite_db, emulator):
    env = _env(sqlite_db, emulator, SEOBATCH_MODEL="gpt-4o")
    done = subprocess.run([sys.executable, "scripts/kickoff.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "unknown model 'gpt-4o'" in done.stderr
    assert SeoBatchJob.select().count() == 0


def test_the_clock_needs_redis(sqlite_db, emulator):
    done = subprocess.run([sys.executable, "scripts/clock.py"], cwd=ROOT, env=_env(sqlite_db, emulator),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "needs REDIS_URL" in done.stderr


def _left_over_from_last_night(settings, emulator) -> tuple[int, int]:
    """A job stuck in processing (its batch sent, the process died) and one stuck collecting,
    both untouched for 20 hours."""
    from datetime import timedelta

    from seobatch import db
    from seobatch.stages.collect import collect
    from seobatch.stages.kickoff import kickoff
    from seobatch.stages.submit import submit

    make_pages(3)
    processing = kickoff(settings=settings).job.id
    collect(processing, settings=settings)
    submit(processing, settings=settings)
    make_pages(3, start=4)
    collecting = SeoBatchJob.create(model=settings.model, status="collecting", metadata={"run": "dead"}).id
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(hours=20)).execute()
    return processing, collecting


def test_the_cron_kickoff_without_redis_finishes_last_nights_stuck_jobs_then_runs(sqlite_db, emulator):
    from pipeline_support import make_settings

    processing, collecting = _left_over_from_last_night(make_settings(emulator), emulator)
    env = _env(sqlite_db, emulator)
    done = subprocess.run([sys.executable, "scripts/kickoff.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # The stuck jobs were worked to the end, and the night's run was not refused
    statuses = {j.id: j.status for j in SeoBatchJob.select()}
    assert statuses[processing] == "completed" and statuses[collecting] == "completed", statuses
    assert len(statuses) == 3 and all(s == "completed" for s in statuses.values()), statuses
    assert "no kickoff" not in done.stderr
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    assert emulator.stats()["anthropic"]["batches_created"] == 2


def test_the_clock_sweeps_on_a_fresh_connection_after_its_own_was_killed(pg_db, emulator, caplog):
    """A8: PostgreSQL restarted (here: the clock's connection terminated) → the next sweep
    opens a new connection and does its work, instead of failing until the next night."""
    import logging
    from datetime import datetime, timedelta

    import psycopg2
    from pipeline_support import make_settings

    import actors.queue
    from actors.broker import use_in_process
    from seobatch import clock, db
    from seobatch.schedule import Schedule

    settings = make_settings(emulator, database_url=pg_db)
    use_in_process(settings)  # the sweep's messages go to an in-process broker, whatever an earlier test bound
    stuck = SeoBatchJob.create(model=settings.model, status="collecting", metadata={})
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(hours=20)).execute()
    # Given the clock's connection killed by the server
    db.database.connect(reuse_if_open=True)
    pid = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    killer = psycopg2.connect(pg_db.split("?")[0])
    try:
        with killer.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        killer.close()
    # When the loop's next turn sweeps
    t = datetime(2030, 1, 1, 12, 0)
    plan = clock.Plan(next_kick=t + timedelta(hours=14), next_sweep=t)
    with caplog.at_level(logging.INFO):
        clock.tick(settings, Schedule.parse("0 2 * * *"), plan, t, queue=actors.queue)
    # Then the sweep ran on a new connection and found the stalled job
    assert "recovery sweep failed" not in caplog.text
    assert f"recover: job {stuck.id} (collecting)" in caplog.text
    assert plan.next_sweep == t + timedelta(seconds=settings.recover_interval)
    assert db.database.is_closed()  # nothing held between turns
