"""``seobatch web`` and ``seobatch web adduser``: passwords never as arguments, no start
without a secret (unless --dev), and a real server process that answers."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from seobatch.cli import main
from seobatch.users import WebUser

from tests.web.conftest import WEB_SECRET


@pytest.fixture
def env(web_db, monkeypatch) -> str:
    monkeypatch.setenv("DATABASE_URL", web_db)
    monkeypatch.delenv("SEOBATCH_WEB_SECRET", raising=False)
    return web_db


def _stdin(monkeypatch, text: str, tty: bool = False) -> None:
    stream = io.StringIO(text)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stream)


def test_adduser_reads_the_password_from_stdin_and_stores_a_scrypt_hash(env, monkeypatch, capsys):
    _stdin(monkeypatch, "a long enough password\n")
    assert main(["web", "adduser", "alice", "--role", "reviewer"]) == 0
    assert capsys.readouterr().out == "created user alice (reviewer)\n"
    user = WebUser.get(WebUser.name == "alice")
    assert user.role == "reviewer" and user.password_hash.startswith("scrypt:")
    _stdin(monkeypatch, "another long password\n")
    assert main(["web", "adduser", "alice", "--role", "admin"]) == 1
    assert "exists already; add --update" in capsys.readouterr().err
    _stdin(monkeypatch, "another long password\n")
    assert main(["web", "adduser", "alice", "--role", "admin", "--update"]) == 0
    assert WebUser.get(WebUser.name == "alice").role == "admin"


def test_adduser_asks_twice_on_a_terminal_and_refuses_two_different_passwords(env, monkeypatch, capsys):
    _stdin(monkeypatch, "", tty=True)
    answers = iter(["first long password", "second long password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["web", "adduser", "bob", "--role", "viewer"]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    assert WebUser.select().count() == 0


def test_a_password_is_never_an_argument(env, capsys):
    with pytest.raises(SystemExit) as info:
        main(["web", "adduser", "carol", "--role", "viewer", "--password", "hunter2hunter2"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["web", "adduser", "carol", "--role", "root"])


def test_the_web_page_does_not_start_without_a_secret_unless_dev(env, monkeypatch, capsys):
    assert main(["web"]) == 1
    assert "SEOBATCH_WEB_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("SEOBATCH_WEB_SECRET", "short")
    assert main(["web"]) == 1
    assert "at least 32 characters" in capsys.readouterr().err

    served = {}

    class Server:
        effective_port = 4321

        def run(self):
            served["ran"] = True

    def fake(app, host, port, *, threads, behind_proxy):
        served.update(app=app, host=host, port=port)
        return Server()

    monkeypatch.setattr("seobatch.web.server.make_server", fake)
    monkeypatch.delenv("SEOBATCH_WEB_SECRET")
    assert main(["web", "--dev"]) == 0
    captured = capsys.readouterr()
    assert "--dev: a secret made for this process only" in captured.err
    assert served["host"] == "127.0.0.1" and served["ran"]
    assert len(served["app"].config["SECRET_KEY"]) >= 32
    assert "http://127.0.0.1:4321/" in captured.out


def test_seobatch_web_serves_with_waitress_in_its_own_process(env, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "seobatch", "web", "--port", "0"],
        env={**os.environ, "DATABASE_URL": env, "SEOBATCH_WEB_SECRET": WEB_SECRET},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.read() == b"ok\n"
            assert response.headers["Server"] == "seobatch"
            assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
        process.stderr.close()
