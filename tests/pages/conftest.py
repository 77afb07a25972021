"""Fixtures of the page tests: the statements a bulk operation runs."""

from __future__ import annotations

import pytest

from seobatch import db


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
