"""`seobatch --help` and every command's `--help` explain themselves."""

from __future__ import annotations

import argparse

import pytest

from seobatch.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,), sub
                yield from _commands(sub, prefix + (name,))


COMMANDS = list(_commands(build_parser()))


def test_every_command_is_listed():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"db init", "pages import", "pages export", "run", "jobs", "job", "cancel",
            "recover", "emulator", "metrics", "demo"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_each_command_has_a_description_and_help_exits_cleanly(path, capsys):
    parser = dict(COMMANDS)[path]
    assert (parser.description or "").strip(), f"`seobatch {' '.join(path)}` has no description"
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: seobatch {' '.join(path)}")


def test_top_level_help_shows_how_to_get_started(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "getting started:" in out and "seobatch run --wait" in out


def test_a_group_without_its_action_shows_the_group_help(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["db"]) == 2
    assert capsys.readouterr().out.startswith("usage: seobatch db")
