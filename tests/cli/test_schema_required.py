"""Only `seobatch db init` creates tables: every other command against a database without
seobatch's (current) schema says so and what to run, and leaves the database as it was."""

from __future__ import annotations

import pytest

from seobatch import db, schema
from seobatch.cli import main

from tests.support.services import pg_schema


@pytest.fixture(params=["sqlite", "postgres"])
def bare_url(request, tmp_path):
    """A database with no tables (a PostgreSQL schema of the test's own, or an SQLite path)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("pg_url")  # skips (or fails under CI) without PostgreSQL
    with pg_schema("seobatch_bare") as url:
        yield url


def _tables(url: str) -> list[str]:
    db.configure(url)
    try:
        return db.database.get_tables()
    finally:
        db.database.close()


@pytest.mark.parametrize("argv", [["jobs"], ["job", "1"], ["run", "--dry-run"], ["pages", "export", "-"],
                                  ["recover"], ["metrics", "--once"]])
def test_a_command_refuses_a_database_without_the_tables_and_creates_none(bare_url, argv, monkeypatch,
                                                                         capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", bare_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seobatch: error:") and "`seobatch db init`" in err[0]
    if bare_url.startswith("sqlite"):
        assert not (tmp_path / "fresh.db").exists()  # not even an empty file
    else:
        assert _tables(bare_url) == []


def test_an_older_schema_is_refused_with_its_version_and_what_to_run(bare_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", bare_url)
    assert main(["db", "init"]) == 0
    capsys.readouterr()
    db.configure(bare_url)
    schema.SchemaVersion.delete().execute()
    schema.SchemaVersion.create(version=1)  # as an older release stamped it
    db.database.close()
    assert main(["jobs"]) == 1
    err = capsys.readouterr().err
    assert f"schema version 1, this release needs {schema.SCHEMA_VERSION}" in err and "db init" in err
    db.configure(bare_url)
    schema.SchemaVersion.create(version=schema.SCHEMA_VERSION)  # as `db init` stamps an upgrade
    db.database.close()
    assert main(["jobs"]) == 0
    assert "no jobs yet" in capsys.readouterr().out
