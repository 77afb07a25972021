"""The failover policy: deadline arithmetic, the finish projection, and the learnt turnaround."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from seobatch.config import Settings
from seobatch.errors import ConfigError
from seobatch.jobmeta import JobStatus
from seobatch.models import SeoBatchJob
from seobatch.stages import failover as fo

T0 = datetime(2026, 11, 30, 22, 0)  # naive UTC: 23:00 in Berlin


def test_deadline_is_the_next_one_in_its_zone():
    assert fo.deadline_after("07:00 Europe/Berlin", T0) == datetime(2026, 12, 1, 6, 0)
    # already past today's 07:00 Berlin → tomorrow's
    assert fo.deadline_after("07:00 Europe/Berlin", datetime(2026, 12, 1, 6, 30)) == datetime(2026, 12, 2, 6, 0)
    # summer time: 07:00 Berlin is 05:00 UTC
    assert fo.deadline_after("07:00 Europe/Berlin", datetime(2026, 7, 1, 1, 0)) == datetime(2026, 7, 1, 5, 0)


@pytest.mark.parametrize("env, needle", [
    ({"SEOBATCH_DEADLINE": "7am Berlin"}, "time of day"),
    ({"SEOBATCH_DEADLINE": "07:00 Mars/Olympus"}, "unknown time zone"),
    ({"SEOBATCH_FAILOVER_MODEL": "gemini:claude-sonnet-4-5"}, "provider=model"),
    ({"SEOBATCH_FAILOVER_MODEL": "mistral=claude-sonnet-4-5"}, "provider=model"),
])
def test_bad_settings_name_the_variable(env, needle):
    with pytest.raises(ConfigError, match=needle) as caught:
        Settings.from_env(env)
    assert next(iter(env)) in str(caught.value)


def test_fallback_must_route_elsewhere():
    settings = Settings.from_env({"SEOBATCH_FAILOVER_MODEL": "gemini=claude-sonnet-4-5, anthropic=claude-haiku-4-5"})
    assert fo.fallback_model(settings, "gemini") == "claude-sonnet-4-5"
    assert fo.fallback_model(settings, "anthropic") is None  # same provider: no way out of its incident
    assert fo.fallback_model(settings, "openai") is None


def _decide(now, counts, state, *, deadline=datetime(2026, 12, 1, 6, 0), own=6 * 3600, fallback=3600):
    return fo.decide(
        now=now, submitted_at=T0, deadline=deadline, margin_minutes=30, provider="gemini",
        provider_state=state, counts=counts, own=fo.Estimate(own, "prior", 0),
        fallback=fo.Estimate(fallback, "history", 9),
    )


def test_a_batch_that_never_starts_fails_over_once_its_turnaround_no_longer_fits():
    pending = {"processing": 10}
    early = _decide(T0 + timedelta(minutes=5), pending, "BATCH_STATE_PENDING")
    assert not early.fail_over and early.reason == "on_time"  # 22:05 + 6 h = 04:05 < give-up 04:15
    late = _decide(T0 + timedelta(hours=1), pending, "BATCH_STATE_PENDING")
    assert late.fail_over and late.reason == "stuck_pending"
    assert late.inputs["give_up_at"].startswith("2026-12-01T04:15")
    assert late.inputs["fallback_estimate"] == "history"


def test_progress_projects_the_finish():
    now = T0 + timedelta(hours=2)
    # half done in 2 h → done at 02:00, well before the give-up time
    assert _decide(now, {"succeeded": 5, "processing": 5}, "BATCH_STATE_RUNNING").reason == "on_time"
    # a tenth in 2 h → 20 h: late
    slow = _decide(now, {"succeeded": 1, "processing": 9}, "BATCH_STATE_RUNNING")
    assert slow.fail_over and slow.reason == "late" and slow.inputs["projected_by"] == "progress"
    assert _decide(now, {"succeeded": 1, "processing": 9}, "finalizing").reason == "finalizing"


def test_no_failover_when_the_fallback_would_not_be_sooner():
    now = T0 + timedelta(hours=1)
    # fallback needs 20 h: the stuck batch's projection (07:00) beats it
    decision = _decide(now, {"processing": 10}, "BATCH_STATE_PENDING", fallback=20 * 3600)
    assert not decision.fail_over and decision.reason == "fallback_not_sooner"


def _completed(model, hours, *, ago_days):
    end = datetime(2026, 11, 1) - timedelta(days=ago_days)
    SeoBatchJob.create(model=model, status=JobStatus.COMPLETED, submitted_at=end - timedelta(hours=hours),
                       completed_at=end)


def test_turnaround_is_the_p95_of_history(any_db):
    assert fo.expected_turnaround("claude-sonnet-4-5") == fo.Estimate(3600.0, "prior", 0)
    for i in range(20):
        _completed("claude-sonnet-4-5", 0.5 + i * 0.1, ago_days=i)  # 0.5 h … 2.4 h
    _completed("gemini-2.5-flash", 30, ago_days=1)  # another model: not counted
    SeoBatchJob.create(model="claude-sonnet-4-5", status=JobStatus.FAILED, submitted_at=T0,
                       completed_at=T0 + timedelta(hours=99))
    est = fo.expected_turnaround("claude-sonnet-4-5")
    assert est.source == "history" and est.jobs == 20
    assert est.seconds == pytest.approx(2.3 * 3600, abs=1)  # nearest rank: the 19th of 20
    assert fo.expected_turnaround("claude-sonnet-4-5", percentile=0.5).seconds == pytest.approx(1.4 * 3600, abs=1)
    # only the latest ``history`` jobs count
    assert fo.expected_turnaround("claude-sonnet-4-5", history=5).seconds == pytest.approx(0.9 * 3600, abs=1)
    # too little history: the prior
    assert fo.expected_turnaround("gemini-2.5-flash") == fo.Estimate(6 * 3600.0, "prior", 1)
