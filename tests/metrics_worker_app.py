"""A Dramatiq app for tests/test_metrics.py: a Redis broker with ``actors.metrics.install``.

Started as ``dramatiq metrics_worker_app`` with ``REDIS_URL`` and ``TEST_NAMESPACE``.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from actors import metrics

broker = RedisBroker(url=os.environ["REDIS_URL"], namespace=os.environ["TEST_NAMESPACE"])
metrics.install(broker)
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0)
def ping() -> None:
    """Does nothing: processing it makes Dramatiq's own metrics appear."""
