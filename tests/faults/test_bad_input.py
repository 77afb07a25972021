"""Bad input and a broken set-up: a one-line error that says what and where, a non-zero
exit, and nothing created. Page files with broken rows are covered in tests/pages/test_importing.py;
here only what it leaves out (other encodings, binary junk, BOMs, a field over the csv
module's default limit)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from seobatch import db
from seobatch.cli import main
from seobatch.models import Page, SeoBatchItem, SeoBatchJob

from tests.faults.procs import ROOT
from tests.support.canaries import CANARIES, CANARY_ANTHROPIC, CANARY_GEMINI, CANARY_OPENAI
from tests.support.net import free_port
from tests.support.pages import seed_pages
from tests.support.shell import clear_operator_env, kept_root_logging

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def shell(monkeypatch, sqlite_db, emulator):
    """An operator's environment: SQLite with pages, the emulator, canary keys, no Redis."""
    with kept_root_logging():
        clear_operator_env(monkeypatch)
        monkeypatch.setenv("DATABASE_URL", sqlite_db)
        monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY_ANTHROPIC)
        monkeypatch.setenv("GEMINI_API_KEY", CANARY_GEMINI)
        monkeypatch.setenv("OPENAI_API_KEY", CANARY_OPENAI)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{emulator.url}/v1")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.url)
        seed_pages(3)
        yield monkeypatch
    db.configure(sqlite_db)  # a test may have pointed the models at a dead database


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("seobatch: error: ")
    for canary in CANARIES:
        assert canary not in err
    return lines[0]


def nothing_created() -> bool:
    return SeoBatchJob.select().count() == 0 and SeoBatchItem.select().count() == 0


def test_an_unknown_model_is_a_one_line_error_before_any_job(shell, capsys):
    assert main(["run", "--model", "llama-3-70b"]) == 1
    line = one_line_error(capsys)
    assert "unknown model 'llama-3-70b'" in line and "claude-*" in line and "gemini-*" in line and "gpt-*" in line
    assert nothing_created()


@pytest.mark.parametrize("model, var", [("claude-sonnet-4-5", "ANTHROPIC_API_KEY"), ("gemini-2.5-flash", "GEMINI_API_KEY"),
                                        ("gpt-4o-mini", "OPENAI_API_KEY"), ("o4-mini", "OPENAI_API_KEY")])
def test_a_missing_api_key_is_a_one_line_error_naming_the_variable(shell, capsys, model, var):
    shell.delenv(var)
    assert main(["run", "--model", model]) == 1
    assert var in one_line_error(capsys)
    assert nothing_created()


def test_an_unreachable_database_is_a_one_line_error(shell, capsys):
    shell.setenv("DATABASE_URL", f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/nothing")
    assert main(["run"]) == 1
    line = one_line_error(capsys)
    assert "cannot connect to the database" in line and "hunter2" not in line


def test_an_unreachable_broker_is_a_one_line_error_before_any_job(shell, capsys):
    shell.setenv("REDIS_URL", f"redis://user:hunter2@127.0.0.1:{free_port()}/0")
    assert main(["run"]) == 1
    line = one_line_error(capsys)
    assert "cannot reach Redis" in line and "hunter2" not in line
    assert nothing_created()
    assert main(["recover"]) == 1
    assert "cannot reach Redis" in one_line_error(capsys)


def test_the_console_script_prints_one_line_and_no_traceback(sqlite_db, tmp_path):
    """The same through a real process: stderr is exactly one line, the exit code 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_"))}
    env.update(DATABASE_URL=sqlite_db, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               ANTHROPIC_API_KEY=CANARY_ANTHROPIC)
    seed_pages(2)
    done = subprocess.run([sys.executable, "-m", "seobatch", "run"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("seobatch: error: cannot reach Redis at redis://127.0.0.1:")
    assert nothing_created()


# -- page files: what tests/pages/test_importing.py leaves out ----------------------------


def import_file(path, capsys) -> tuple[int, str, str]:
    code = main(["pages", "import", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_utf16_file_is_rejected_line_by_line_naming_the_encoding_problem(shell, tmp_path, capsys):
    path = tmp_path / "pages.jsonl"
    path.write_bytes('{"url": "https://example.com/u16", "title": "Wide"}\n'.encode("utf-16"))
    code, out, err = import_file(path, capsys)
    assert code == 1
    assert f"{path}:1: not valid UTF-8" in err
    assert "rejected" in out and Page.select().where(Page.url == "https://example.com/u16").count() == 0


def test_binary_junk_is_rejected_without_a_crash_and_valid_rows_are_kept(shell, tmp_path, capsys):
    path = tmp_path / "pages.jsonl"
    path.write_bytes(bytes(range(256)) * 4 + b'\n{"url": "https://example.com/after-junk", "title": "Fine"}\n')
    code, out, err = import_file(path, capsys)
    assert code == 1
    assert all(line.startswith(f"seobatch: {path}:") for line in err.splitlines())
    assert Page.get(Page.url == "https://example.com/after-junk").title == "Fine"


def test_a_byte_order_mark_does_not_break_the_first_row(shell, tmp_path, capsys):
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"url": "https://example.com/bom-jsonl", "title": "BOM"}\n')
    csv_file = tmp_path / "bom.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfurl,title\r\nhttps://example.com/bom-csv,BOM\r\n")
    assert import_file(jsonl, capsys)[0] == 0
    assert import_file(csv_file, capsys)[0] == 0
    assert Page.select().where(Page.url.in_(["https://example.com/bom-jsonl", "https://example.com/bom-csv"])).count() == 2


def test_a_csv_field_over_the_csv_modules_default_limit_is_read(shell, tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text("url,title,content\nhttps://example.com/big,Big," + "x" * 200_000
                    + "\nhttps://example.com/after,After,ok\n")
    code, out, err = import_file(path, capsys)
    assert code == 0, err
    assert len(Page.get(Page.url == "https://example.com/big").content) == 200_000
