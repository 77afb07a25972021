"""Fixtures for the web page: an app over the test database, its users, signed-in clients.

Users get cheap pbkdf2 hashes here (werkzeug verifies them like scrypt ones) so the suite
does not spend a second of CPU per user; ``add_user``'s scrypt is tested on its own.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from seobatch import audit, db
from seobatch.config import Settings
from seobatch.users import WebUser
from seobatch.web.app import create_app

from tests.support.canaries import CANARIES
from tests.support.services import PG_BASE_URL, require_service
from tests.web.widths import half_em

#: The session key of the tests: a canary too, it must never be rendered.
WEB_SECRET = "web-CANARY-secret-0123456789abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "reviewer", "admin")
ALL_SECRETS = (*CANARIES, WEB_SECRET)

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_settings(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, anthropic_api_key=CANARIES[0], gemini_api_key=CANARIES[1],
                    web_secret=WEB_SECRET).with_(**overrides)


@pytest.fixture
def web_db(any_db) -> Iterator[str]:
    """``any_db`` with the users table emptied afterwards (conftest truncates only the pipeline's)."""
    yield any_db
    WebUser.delete().execute()


@pytest.fixture
def users(web_db) -> dict[str, WebUser]:
    """One user per role, named after it, all with ``PASSWORD``."""
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    return {role: WebUser.create(name=role, role=role, password_hash=cheap) for role in ROLES}


@pytest.fixture
def app(web_db) -> Iterator[Flask]:
    app = create_app(web_settings(web_db), secret_key=WEB_SECRET, width_fn=half_em)
    yield app
    assert app.extensions["seobatch.audit_cache"].join(), "an audit still runs"  # before the tables are emptied


def count_runs(monkeypatch) -> list[str]:
    """Every ``run_audit`` from now on, on whichever thread: each creates its scratch table."""
    runs: list[str] = []
    real = db.database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        if sql == audit._CREATE:
            runs.append(threading.current_thread().name)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.database.obj, "execute_sql", counting)
    return runs


def audit_page(client: FlaskClient, path: str) -> str:
    """``path`` of the Audit once its background audit is done (the page says "computing"
    and reloads itself until then; here each reload waits for the run instead)."""
    for _ in range(5):
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        page = response.get_data(as_text=True)
        if 'http-equiv="refresh"' not in page:
            return page
        assert client.application.extensions["seobatch.audit_cache"].join()
    raise AssertionError(f"{path} is still computing")


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = _CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, **kw: Any) -> Any:
    token = csrf_of(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token}, **kw)


@pytest.fixture
def clients(app, users) -> dict[str, FlaskClient]:
    """A signed-in test client per role, plus ``anon``."""
    out = {"anon": app.test_client()}
    for role in ROLES:
        client = app.test_client()
        assert sign_in(client, role).status_code == 302
        out[role] = client
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path) -> Iterator[str]:
    """A database with no tables yet: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'v1.db'}"
        return
    require_service("PostgreSQL", PG_BASE_URL, 5432)
    name = f"seobatch_web_{uuid.uuid4().hex[:10]}"
    base = db.configure(PG_BASE_URL)
    base.execute_sql(f'CREATE SCHEMA "{name}"')  # name is ours, not input
    base.close()
    sep = "&" if "?" in PG_BASE_URL else "?"
    yield f"{PG_BASE_URL}{sep}options=-csearch_path%3D{name}"
    db.database.close()
    base = db.configure(PG_BASE_URL)
    base.execute_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    base.close()
