"""``seobatch demo --db FILE`` keeps the demo's database for the operator views."""

from __future__ import annotations

import json

import pytest

from seobatch.cli import main

from tests.support.shell import kept_root_logging


@pytest.mark.slow
def test_demo_with_db_keeps_the_database_for_jobs_and_job(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with kept_root_logging():
        # Given a demo run that keeps its database
        assert main(["demo", "--processing-seconds", "0.2", "--db", "demo.db"]) == 0
        err = capsys.readouterr().err
        assert f"DATABASE_URL=sqlite:///{tmp_path / 'demo.db'} seobatch jobs" in err
        # When the operator looks at it afterwards
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
        assert main(["jobs", "--json"]) == 0
        jobs = json.loads(capsys.readouterr().out)["jobs"]
        assert main(["job", "1", "--json"]) == 0
        detail = json.loads(capsys.readouterr().out)
    # Then the run is there, completed, with its batch id, tokens and a batch-price cost
    # (the quality gate rejects the replies the demo cues as bad, and the emulator's
    # English descriptions on some pages in other languages)
    assert [(j["id"], j["status"], j["pages"], j["succeeded"] + j["errored"]) for j in jobs] == [
        (1, "completed", 36, 36)]
    assert 0 < jobs[0]["errored"] < 36
    assert all(g["reason"].startswith("quality: ") for g in detail["errors"])
    assert detail["quality"]["actions"]["reject"] == jobs[0]["errored"]
    assert jobs[0]["provider_batch_id"].startswith("msgbatch_") and jobs[0]["cost_usd"] > 0
    assert detail["items"]["succeeded"] == jobs[0]["succeeded"] and detail["tokens"]["input"] > 0
    assert detail["cost"]["batch_usd"] == pytest.approx(jobs[0]["cost_usd"], abs=1e-6)
    assert detail["cost"]["interactive_usd"] == pytest.approx(2 * detail["cost"]["batch_usd"])
