"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def cli_env(any_db, monkeypatch):
    """``DATABASE_URL`` pointing at the test's database, as ``main()`` reads it."""
    monkeypatch.setenv("DATABASE_URL", any_db)
    return any_db
