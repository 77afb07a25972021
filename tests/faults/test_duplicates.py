"""R3: Dramatiq delivers at least once — every message may come twice, at the same time
or later. Nothing may happen twice: one batch, one transition of each kind, one event."""

from __future__ import annotations

import threading
from collections import defaultdict

import dramatiq
import pytest

import actors._run
from seobatch.models import SeoBatchJob
from seobatch.stages import STAGES

from . import golden
from .support import golden_run, kickoff_run, run_steps, wait_run

pytestmark = pytest.mark.timeout(60)

@pytest.fixture
def every_message_twice_at_once(monkeypatch):
    """Once enabled, each step is sent twice and the two copies enter their stage together
    (a barrier per stage and job), so the duplicates really run side by side."""
    original = actors._run.send_steps
    barriers: dict[tuple[str, int], threading.Barrier] = {}
    lock = threading.Lock()
    paired: dict[str, int] = defaultdict(int)

    def twice(steps):
        steps = list(steps)
        original(steps)
        original(steps)

    def barrier_for(key):
        with lock:
            if key not in barriers or barriers[key].broken:
                barriers[key] = threading.Barrier(2, timeout=30)
            return barriers[key]

    def enable():
        for name, real in dict(STAGES).items():

            def gated(job_id, *, _real=real, _name=name, **kw):
                try:
                    barrier_for((_name, job_id)).wait()
                    with lock:
                        paired[_name] += 1
                except threading.BrokenBarrierError:
                    pass  # a lone copy (e.g. a delayed retry): run it alone
                return _real(job_id, **kw)

            monkeypatch.setitem(STAGES, name, gated)
        monkeypatch.setattr(actors._run, "send_steps", twice)
        return twice

    return enable, paired


def test_r3_every_message_delivered_twice_at_the_same_time_changes_nothing(
    any_db, emulator, worker, settings, every_message_twice_at_once, canary_records
):
    """R3 (parallel): every stage message delivered twice, both copies entering the stage
    together → one batch created, each transition won once (one log line, one event),
    tables equal to the fault-free run."""
    enable, paired = every_message_twice_at_once
    want = golden_run(emulator, settings, 15)
    send_twice = enable()
    logged_before = len(canary_records.texts)
    job_id = kickoff_run(settings)
    send_twice(run_steps(job_id))
    wait_run(job_id)
    assert all(paired[name] >= 2 for name in STAGES), dict(paired)
    assert emulator.stats()["anthropic"]["batches_created"] == 1
    transitions = [t for t in canary_records.texts[logged_before:] if t.startswith("job_transition")]
    for target in ("submitting", "processing", "completed"):
        assert sum(f" to={target} " in t for t in transitions) == 1, target
    golden.assert_same(golden.snapshot(), want)
    golden.assert_events_once()


def test_r3_every_message_delivered_again_after_the_run_changes_nothing(any_db, emulator, worker, settings):
    """R3 (sequential): once the run is over, each stage's message arrives again (a late
    redelivery) → nothing is sent to the provider, no row and no event changes."""
    from actors import send_steps

    job_id = kickoff_run(settings)
    from .support import seed_pages

    seed_pages(9)
    send_steps(run_steps(job_id))
    wait_run(job_id)
    before = golden.snapshot()
    stats = emulator.stats()["anthropic"]
    for name in STAGES:
        dramatiq.get_broker().get_actor(name).send(job_id)
    worker.join()
    after = emulator.stats()["anthropic"]
    assert (after["create"], after["batches_created"], after["results"]) == (
        stats["create"], stats["batches_created"], stats["results"])
    assert golden.snapshot() == before
    assert SeoBatchJob.get_by_id(job_id).status == "completed"
