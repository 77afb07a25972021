"""PostgreSQL and Redis for the tests: where they are, and skip-or-fail when they are not.

On a laptop without them the tests that need them skip; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest

from seobatch import db

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip without the service on a laptop; fail under CI, where it must exist."""
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {db.describe_url(url)}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL schema named ``prefix_<random>``; yields a URL whose
    search_path is that schema (so two suites can run at once), and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    base = db.configure(PG_BASE_URL)
    base.execute_sql(f'CREATE SCHEMA "{name}"')  # our name, not input
    base.close()
    sep = "&" if "?" in PG_BASE_URL else "?"
    try:
        yield f"{PG_BASE_URL}{sep}options=-csearch_path%3D{name}"
    finally:
        base = db.configure(PG_BASE_URL)
        base.execute_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        base.close()
