"""Fixtures of the fault suite: an in-process worker with fast retries, and a canary
check (S1) that runs after every fault test: no canary key in the captured logs or
anywhere in the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
import peewee
import pytest

from seobatch import db

from .support import CANARIES, dump_tables, fault_settings


@pytest.fixture
def settings(emulator):
    return fault_settings(emulator)


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Dramatiq retries after 50-500 ms instead of seconds (the actors' policies stay)."""
    import actors  # noqa: F401  (declares every actor on the broker, the registry read below)

    broker = dramatiq.get_broker()
    every = {name: broker.get_actor(name) for name in broker.get_declared_actors()}
    saved = {name: dict(actor.options) for name, actor in every.items()}
    for actor in every.values():
        actor.options.update(min_backoff=50, max_backoff=500)
    try:
        yield
    finally:
        for name, actor in every.items():
            actor.options.clear()
            actor.options.update(saved[name])


@pytest.fixture
def worker(settings, fast_retries) -> Iterator[dramatiq.Worker]:
    """Every actor on a fresh in-process broker, with a 4-thread worker."""
    from actors.broker import use_in_process

    broker = use_in_process(settings)
    w = dramatiq.Worker(broker, worker_threads=4, worker_timeout=50)
    w.start()
    try:
        yield w
    finally:
        w.stop()
        broker.flush_all()
        broker.close()


class _Records(logging.Handler):
    """Keeps every record any logger emits during a test, unredacted and unformatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(record.getMessage())
        except Exception:  # a bad format string: keep the raw parts
            self.texts.append(f"{record.msg!r} {record.args!r}")
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture(autouse=True)
def canary_records(request) -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    request.node.canary_records = handler
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """S1: right after each fault test's body (before its database is torn down), the
    canary keys appear in no log record, no exception text and no database row."""
    outcome = yield
    if outcome.excinfo is not None:
        return
    handler = getattr(item, "canary_records", None)
    logged = "\n".join(handler.texts) if handler else ""
    for canary in CANARIES:
        assert canary not in logged, "S1: a canary key reached the logs"
    if db.database.obj is None or "any_db" not in item.fixturenames and not {
        "sqlite_db", "pg_db"} & set(item.fixturenames):
        return
    try:
        db.database.connect(reuse_if_open=True)
        rows = dump_tables()
    except (peewee.OperationalError, peewee.InterfaceError):
        return  # the test pointed the models at an unreachable database on purpose
    for canary in CANARIES:
        assert canary not in rows, "S1: a canary key reached the database"
