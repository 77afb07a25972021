"""The whole CLI's stream and start-up errors: a closed pipe, a malformed DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seobatch.cli import main
from seobatch.models import Page, SeoBatchJob

ROOT = Path(__file__).resolve().parents[2]
#: What a shell shows for a tool that SIGPIPE stopped (128 + 13).
SIGPIPE_STATUS = 141


def run_cli_into_head(args: list[str], database_url: str) -> tuple[int, bytes, str]:
    """``seobatch ARGS | head -1`` with a real pipe: (exit status, first line, stderr)."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seobatch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    return proc.wait(timeout=60), first, err


@pytest.mark.parametrize("args", [["pages", "export", "-"], ["pages", "export", "--format", "csv"]])
def test_export_into_a_closed_pipe_ends_quietly(any_db, args):
    # Given far more output than a pipe buffers (64 kB)
    Page.insert_many(
        [{"url": f"https://example.com/{i}", "title": "T" * 80, "content_hash": "h"} for i in range(5000)]
    ).execute()
    # When the reader stops after one line
    code, first, err = run_cli_into_head(args, any_db)
    # Then the command ends like a tool that SIGPIPE stopped: no traceback, nothing on stderr
    assert first.startswith((b'{"url": "https://example.com/0"', b"url,title"))
    assert (code, err) == (SIGPIPE_STATUS, "")


def test_jobs_into_a_closed_pipe_ends_quietly(any_db):
    SeoBatchJob.insert_many([{"model": "claude-sonnet-4-5", "status": "completed"}] * 3000).execute()
    code, first, err = run_cli_into_head(["jobs", "--limit", "3000"], any_db)
    assert first.strip() and (code, err) == (SIGPIPE_STATUS, "")


def test_a_broken_pipe_that_is_not_stdout_keeps_its_traceback(monkeypatch):
    # Given a command whose own socket breaks while stdout is a healthy file
    from seobatch.cli import pages as pages_cli

    def broken(args, settings):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(pages_cli, "run_export", broken)
    monkeypatch.setattr("seobatch.cli._stdout_is_broken", lambda: False)
    with pytest.raises(BrokenPipeError):
        main(["pages", "export", "-"])


# -- a malformed DATABASE_URL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://relative.db", "sqlite URLs need three slashes, sqlite:///relative.db"),
        ("sqlite://", "names no database file"),
        ("sqlite:///", "names no database file"),
        ("postgresql://root:hunter2pw@127.0.0.1:notaport/test", "the port is not a number"),
        # an unescaped "/" in the password: urllib sees the rest of it as the port
        ("postgresql://root:hun/ter2pw@127.0.0.1/test", "the port is not a number"),
        ("postgresql://root:hunter2pw@127.0.0.1:5432", "names no database"),
        ("postgresql://root:hunter2pw@127.0.0.1:5432/test?fooo=bar",
         'connection option PostgreSQL does not know: invalid dsn: invalid connection option "fooo"'),
        ("mysql://root:hunter2pw@127.0.0.1/x", "must start with postgresql:// or sqlite:///"),
    ],
)
def test_a_malformed_database_url_is_one_error_line_without_the_password(url, says, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["jobs"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("seobatch: error: DATABASE_URL") and err.count("\n") == 1
    assert says in err
    assert "hunter2pw" not in err and "ter2pw" not in err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://root:pw@h:5432/db?sslmode=require&password=x", "postgresql://root:***@h:5432/db"),
        ("postgresql://root:p/w:@x@h/db", "postgresql://root:***@h/db"),
        ("postgresql://root@h/db", "postgresql://root@h/db"),
        ("sqlite:///seobatch.db", "sqlite:///seobatch.db"),
    ],
)
def test_describe_url_masks_the_whole_password(url, shown):
    from seobatch.db import describe_url

    assert describe_url(url) == shown
