"""The Dramatiq side of the metrics: one middleware on a Redis broker, a warning only in workers."""

from __future__ import annotations

import logging
import sys

import pytest

pytest.importorskip("prometheus_client")

from dramatiq.brokers.redis import RedisBroker  # noqa: E402
from dramatiq.brokers.stub import StubBroker  # noqa: E402
from dramatiq.middleware.prometheus import Prometheus  # noqa: E402

from actors import metrics  # noqa: E402
from actors.middleware import WorkerBoot  # noqa: E402
from actors.runtime import Runtime  # noqa: E402
from seobatch.cli import main  # noqa: E402


def test_without_prometheus_client_install_warns_and_the_command_explains(monkeypatch, caplog, capsys):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now fails
    broker = RedisBroker(url="redis://127.0.0.1:1/0")
    assert metrics.install(broker) is False
    assert "pip install 'seobatch[metrics]'" in caplog.text
    capsys.readouterr()
    assert main(["metrics", "--once"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seobatch metrics needs it" in err


def test_without_prometheus_client_only_a_booting_worker_warns(monkeypatch, caplog, sqlite_db):
    # Given no prometheus-client: building the broker (every command that sends) stays quiet
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    broker = RedisBroker(url="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING):
        assert metrics.install(broker, quiet=True) is False
    assert "prometheus-client is not installed" not in caplog.text
    # When a worker boots on that broker, it says once that metrics are off; an in-process one does not
    from pipeline_support import make_settings

    boot = WorkerBoot(Runtime(make_settings(database_url=sqlite_db)))
    with caplog.at_level(logging.WARNING):
        boot.before_worker_boot(StubBroker(), None)
        assert "prometheus-client is not installed" not in caplog.text
        boot.before_worker_boot(broker, None)
    assert caplog.text.count("prometheus-client is not installed") == 1


def test_install_adds_one_middleware_that_forks_the_combined_server():
    # An in-process broker has no worker processes to scrape: nothing added
    stub = StubBroker()
    assert metrics.install(stub) is False
    assert not any(isinstance(m, Prometheus) for m in stub.middleware)
    # A Redis broker gets it once, replacing a plain Prometheus middleware
    broker = RedisBroker(url="redis://127.0.0.1:1/0")
    broker.add_middleware(Prometheus())
    assert metrics.install(broker) is True
    assert metrics.install(broker) is True
    ours = [m for m in broker.middleware if isinstance(m, Prometheus)]
    assert len(ours) == 1 and isinstance(ours[0], metrics.middleware_class())
    assert ours[0].forks == [metrics.exposition_server]
