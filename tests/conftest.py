"""Fixtures: real databases (SQLite file, PostgreSQL schema), a real Redis, the emulator, and
scripted fake HTTP servers (tests/support/fakehttp.py) for what the emulator cannot do.

PostgreSQL and Redis tests skip on a laptop without them and fail under ``CI=true``.
Each test session gets its own PostgreSQL schema (so two suites can run at once) and
each test starts with empty tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from seobatch import db, schema
from seobatch.emulator import Emulator

from tests.support.fakehttp import FakeServer, Sleeps
from tests.support.services import PG_BASE_URL, REDIS_URL, pg_schema, require_service

TABLES = ("seo_page_revisions", "seo_batch_events", "seo_batch_items", "seo_batch_jobs", "seo_pages")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of this test session's own."""
    require_service("PostgreSQL", PG_BASE_URL, 5432)
    with pg_schema("seobatch_test") as url:
        db.configure(url)
        schema.init_db()
        db.database.close()
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'seobatch.db'}"


def _use(url: str) -> Iterator[str]:
    db.configure(url)
    schema.init_db()
    db.database.connect(reuse_if_open=True)
    try:
        yield url
    finally:
        if not db.database.is_closed():
            if db.database.in_transaction():
                db.database.rollback()
            db.database.close()
        if db.is_postgres():
            db.configure(url)
            db.database.execute_sql(
                "TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE"
            )
            db.database.close()


@pytest.fixture
def sqlite_db(sqlite_url) -> Iterator[str]:
    """A fresh SQLite database file with the schema; yields its URL."""
    yield from _use(sqlite_url)


@pytest.fixture
def pg_db(pg_url) -> Iterator[str]:
    """The session's PostgreSQL schema, emptied after the test; yields its URL."""
    yield from _use(pg_url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request) -> Iterator[str]:
    """Runs the test once on SQLite and once on PostgreSQL; yields the URL in use."""
    yield request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_url) -> Iterator[str]:
    """A Dramatiq namespace of this test's own; its keys are deleted afterwards."""
    import redis

    name = f"seobatch-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running provider emulator (both APIs) on an ephemeral port; batches end at once."""
    emu = Emulator(processing_seconds=0.0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def other_fake() -> Iterator[FakeServer]:
    """A second server: "another host" for redirect and results_url tests."""
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def queries(any_db, monkeypatch):
    """Every data statement the database runs (SELECT/INSERT/UPDATE/DELETE)."""
    seen: list[str] = []
    real = db.database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        if sql.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.database.obj, "execute_sql", counting)
    return seen
