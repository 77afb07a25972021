"""The Dramatiq side of the metrics: Dramatiq's ``Prometheus`` middleware, serving the
job metrics of ``seobatch.metrics`` on the same port.

``broker.build_broker`` calls ``install`` for a Redis broker. ``prometheus-client`` is
optional: without it nothing is added, and a worker says so once when it boots
(``middleware.WorkerBoot``), not every command that only sends messages.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import prometheus as dramatiq_prometheus
from dramatiq.middleware.prometheus import Prometheus

from seobatch import db
from seobatch.config import Settings
from seobatch.metrics import MISSING, available, make_metrics_server

log = logging.getLogger(__name__)

_middleware_class: type[Prometheus] | None = None


def middleware_class() -> type[Prometheus]:
    """Dramatiq's ``Prometheus`` middleware, serving the job metrics on the same port."""
    global _middleware_class
    if _middleware_class is None:

        class SeobatchPrometheus(Prometheus):
            """Dramatiq's message metrics plus seobatch's job metrics on one ``/metrics``."""

            @property
            def forks(self) -> list[Any]:
                return [exposition_server]

        _middleware_class = SeobatchPrometheus
    return _middleware_class


def install(broker: dramatiq.Broker, *, quiet: bool = False) -> bool:
    """Add the metrics middleware to ``broker``; True if it is on the broker.

    Replaces a plain ``Prometheus`` middleware already on the broker (two would fight
    over one port). Does nothing for an in-process ``StubBroker`` (no worker processes to
    scrape) or when ``prometheus-client`` is missing (one warning, unless ``quiet``).
    """
    if not available():
        if not quiet:
            log.warning(MISSING)
        return False
    if isinstance(broker, StubBroker):
        return False
    cls = middleware_class()
    for i, existing in enumerate(broker.middleware):
        if isinstance(existing, cls):
            return True
        if isinstance(existing, Prometheus):
            broker.middleware[i] = cls()
            return True
    broker.add_middleware(cls())
    return True


def exposition_server() -> int:
    """Dramatiq fork: serve Dramatiq's and the job metrics on ``dramatiq_prom_host:port``."""
    # A forked entry point: it reads its own settings, as the worker processes do.
    settings = Settings.from_env()
    db.configure(settings.database_url)
    try:
        server = make_metrics_server(
            dramatiq_prometheus.HTTP_HOST,
            dramatiq_prometheus.HTTP_PORT,
            multiprocess_dir=dramatiq_prometheus.DB_PATH,
            settings=settings,
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # A second `dramatiq actors` on this host: the first one's endpoint already serves
        # the job metrics (read from the database); this worker runs on without its own.
        log.warning(
            "metrics: %s:%s is in use (another worker on this host?); this worker serves no "
            "metrics endpoint — give each worker its own dramatiq_prom_port to scrape it apart",
            dramatiq_prometheus.HTTP_HOST, dramatiq_prometheus.HTTP_PORT,
        )
        return 0
    log.info(
        "metrics: serving job and Dramatiq metrics on %s:%s/metrics",
        dramatiq_prometheus.HTTP_HOST, server.server_port,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
