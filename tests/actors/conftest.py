"""Fixtures of the actor tests: settings, and an in-process broker + worker."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest

from tests.support.pipeline import make_settings


@pytest.fixture
def settings(emulator):
    return make_settings(emulator, submit_lease_seconds=2)


@pytest.fixture
def stub_worker(settings) -> Iterator[tuple[dramatiq.Broker, dramatiq.Worker]]:
    """Every actor rebound to a fresh in-process broker, and a worker with 4 threads."""
    from actors.broker import use_in_process

    broker = use_in_process(settings)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=50)
    worker.start()
    try:
        yield broker, worker
    finally:
        worker.stop()
        broker.flush_all()
        broker.close()
