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
