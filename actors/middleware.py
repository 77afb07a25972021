"""Worker-side middleware: the database per message, and what a worker sets up at boot."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from seobatch import db, metrics, outbox
from seobatch.config import Settings
from seobatch.errors import SeobatchError
from seobatch.logs import redact, setup_logging
from seobatch.schema import open_database
from seobatch.stages.recover import recover

from ._run import send_steps
from .runtime import Runtime

log = logging.getLogger("seobatch.worker")

#: Exit status of a worker process that cannot start (Dramatiq's master then stops the rest).
RET_CANNOT_START = 1


class WorkerBoot(dramatiq.Middleware):
    """At worker boot: redacting logs, the database bound and checked, subscribers connected.

    Runs in each worker process (``dramatiq actors`` forks them) and for the in-process
    worker of ``seobatch run --wait``, where the database is already bound. A worker
    process whose database cannot be reached, or has no (current) seobatch schema, says
    so in one line and exits non-zero, before it takes a message: otherwise every message
    would fail in ``DbConnections`` and burn its retries.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        settings = self.runtime.settings
        setup_logging(
            logging.getLogger().level or logging.INFO, settings.secrets(), settings.log_format
        )
        if db.database.obj is None:
            try:
                open_database(settings)  # connects and checks the schema, as every command does
            except SeobatchError as exc:
                log.critical("worker cannot start: %s", redact(str(exc), settings.secrets()))
                sys.exit(RET_CANNOT_START)  # SystemExit: past Dramatiq's middleware guard, no traceback
            db.database.close()  # each message opens its own (DbConnections)
        loaded = outbox.load_subscribers(settings.subscribers, settings)
        if loaded:
            log.info("event subscribers: %s", ", ".join(loaded))
        if not isinstance(broker, StubBroker) and not metrics.available():
            log.warning(metrics.MISSING)  # here, where metrics are served: not in every command

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        # In-process workers (``run --wait``, tests) are started by a caller that swept.
        if not isinstance(broker, StubBroker):
            BootSweep(self.runtime.settings).start()


class BootSweep(threading.Thread):
    """A booting worker recovers what dead workers left (as Sidekiq Pro's reliable fetch
    does at start): a recovery sweep now, and again each time a claim or a due poll it
    saw runs out, for SEOBATCH_STALE_AFTER after boot. A worker restarted right after a
    crash sees the dead worker's claims still running; its second look, when they run
    out, is the one that moves the jobs on. Live workers renew their claims, so their
    jobs are left alone; two workers booting at once each sweep, and the sweep's
    compare-and-set lets one of them enqueue each job.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="seobatch-boot-sweep", daemon=True)
        self.settings = settings
        self.stop = threading.Event()

    def run(self) -> None:
        horizon = db.utcnow() + timedelta(seconds=self.settings.stale_after)
        while not self.stop.is_set():
            try:
                with db.connection(fresh=True):
                    found = recover(settings=self.settings)
                send_steps(found.steps)
            except Exception:  # the worker must boot whatever the sweep met; the clock sweeps too
                log.exception("boot sweep failed")
                return
            for line in found.lines() if found.stalled else ():
                log.info("boot sweep: %s", line)
            look = found.next_look(horizon)
            if look is None:
                return
            # One second past the end: a claim not renewed by then has run out.
            self.stop.wait(max(1.0, (look - db.utcnow()).total_seconds() + 1))


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
