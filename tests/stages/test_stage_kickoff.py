"""kickoff: refuse early and once; never two collecting runs of one model."""

from __future__ import annotations

import threading

import pytest

from seobatch import db
from seobatch.errors import AlreadyRunning, ConfigError
from seobatch.models import SeoBatchJob
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff

from tests.support.pipeline import make_settings


def test_kickoff_creates_a_collecting_job_and_asks_for_collect(any_db):
    started = kickoff(settings=make_settings(), limit=5, max_cost=2.5)
    row = SeoBatchJob.get_by_id(started.job.id)
    assert (row.status, row.model) == ("collecting", "claude-sonnet-4-5")
    assert row.metadata["limit"] == 5 and row.metadata["max_cost"] == 2.5 and row.metadata["run"]
    assert started.steps == [Step("collect", row.id)]


@pytest.mark.parametrize(
    "model, key_missing, message",
    [
        ("llama-3-70b", None, "unknown model 'llama-3-70b'"),
                ("claude-sonet-4-5", None, "unknown model 'claude-sonet-4-5'.*did you mean claude-sonnet-4-5"),
        ("gemini-2.5-flsh", None, "did you mean gemini-2.5-flash"),
        ("claude-sonnet-4-5", "anthropic_api_key", "ANTHROPIC_API_KEY is not set"),
        ("gemini-2.5-flash", "gemini_api_key", "GEMINI_API_KEY is not set"),
    ],
)
def test_a_bad_model_or_missing_key_is_refused_before_any_job_exists(any_db, model, key_missing, message):
    settings = make_settings(**({key_missing: None} if key_missing else {}))
    with pytest.raises(ConfigError, match=message):
        kickoff(settings=settings, model=model)
    assert SeoBatchJob.select().count() == 0


def test_a_second_kickoff_of_a_model_is_refused_while_its_run_collects(any_db):
    settings = make_settings()
    first = kickoff(settings=settings).job
    with pytest.raises(AlreadyRunning, match=f"job {first.id}"):
        kickoff(settings=settings)
    # Another model may start; and once the first run has moved on, so may this one.
    kickoff(settings=settings, model="gemini-2.5-flash")
    first.transition("submitting", expected=("collecting",))
    kickoff(settings=settings)
    assert SeoBatchJob.select().count() == 3


def test_two_kickoffs_at_once_make_one_job(any_db):
    # Given two threads that kick off the same model at the same instant
    settings = make_settings()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def kick() -> None:
        db.database.connect(reuse_if_open=True)
        barrier.wait()
        try:
            kickoff(settings=settings)
            outcomes.append("started")
        except AlreadyRunning:
            outcomes.append("refused")
        finally:
            db.database.close()

    threads = [threading.Thread(target=kick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # Then exactly one job exists and the other kickoff was told why
    assert sorted(outcomes) == ["refused", "started"]
    assert SeoBatchJob.select().count() == 1


def test_a_model_without_a_price_runs_only_when_allowed(any_db, tmp_path):
    # Refused, naming the three ways to allow it
    with pytest.raises(ConfigError, match="SEOBATCH_ALLOW_MODELS.*--allow-unknown-model.*SEOBATCH_PRICES_FILE"):
        kickoff(settings=make_settings(), model="claude-custom-1")
    # Allowed by name, or by a price of its own
    assert kickoff(settings=make_settings(allow_models=("claude-custom-1",)), model="claude-custom-1").job.id
    prices = tmp_path / "prices.json"
    prices.write_text('{"gemini-custom-2": {"input": 1, "output": 2}}', encoding="utf-8")
    assert kickoff(settings=make_settings(prices_file=str(prices)), model="gemini-custom-2").job.id
    # A dated id of a priced model needs nothing
    assert kickoff(settings=make_settings(), model="claude-haiku-4-5-20251001").job.id
