"""Worker-side middleware: the database per message, and what a worker sets up at boot."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from seobatch import db, metrics, outbox
from seobatch.logs import setup_logging

from .runtime import Runtime

log = logging.getLogger("seobatch.worker")


class WorkerBoot(dramatiq.Middleware):
    """At worker boot: redacting logs, the database bound, subscribers connected.

    Runs in each worker process (``dramatiq actors`` forks them) and for the in-process
    worker of ``seobatch run --wait``, where the database is already bound.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        settings = self.runtime.settings
        setup_logging(
            logging.getLogger().level or logging.INFO, settings.secrets(), settings.log_format
        )
        if db.database.obj is None:
            db.configure(settings.database_url)
        loaded = outbox.load_subscribers(settings.subscribers, settings)
        if loaded:
            log.info("event subscribers: %s", ", ".join(loaded))
        if not isinstance(broker, StubBroker) and not metrics.available():
            log.warning(metrics.MISSING)  # here, where metrics are served: not in every command


class DbConnections(dramatiq.Middleware):
    """A connection per message: opened before, closed after (peewee keeps one per thread).

    Closing after each message means a connection the server dropped (restart,
    ``pg_terminate_backend``) costs one failed message and its retry, never a worker
    thread stuck with a dead socket.
    """

    def before_process_message(self, broker: Any, message: Any) -> None:
        db.database.connect(reuse_if_open=True)

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        self._close()

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self._close()

    def before_worker_thread_shutdown(self, broker: Any, thread: Any) -> None:
        self._close()

    @staticmethod
    def _close() -> None:
        db.drop_connection()
