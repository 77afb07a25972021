"""The README stays true: its settings, commands, Procfile and examples match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seobatch.cli import build_parser
from seobatch.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_two_commands_come_first_exactly_as_they_are():
    first = code_blocks("sh")[0]
    assert first == "scripts/demo\nscripts/test\n"
    for script in ("demo", "test"):
        path = ROOT / "scripts" / script
        assert path.exists() and path.stat().st_mode & 0o111, f"scripts/{script} must be executable"


def test_every_environment_variable_the_settings_read_is_documented():
    names = set(Settings.variables().values())
    assert len(names) > 20
    table = README[README.index("## Configuration"):README.index("## Commands")]
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert not missing, f"README's configuration table lacks {missing}"


def test_every_command_the_readme_names_exists():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = set(sub.choices)
    # `seobatch X` in code spans, and lines of code blocks that start with it
    named = set(re.findall(r"(?:^|`|&& |\.venv/bin/)seobatch ([a-z]+)\b", README, flags=re.M))
    assert {"run", "jobs", "job", "recover", "metrics"} <= named
    unknown = sorted(named - commands)
    assert not unknown, f"README names commands that do not exist: {unknown}"
    for group, actions in (("db", {"init"}), ("pages", {"import", "export"})):
        group_parser = sub.choices[group]
        group_sub = next(a for a in group_parser._actions
                         if a.__class__.__name__ == "_SubParsersAction")
        assert actions <= set(group_sub.choices)


def test_the_procfile_in_the_readme_is_the_procfile():
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
    assert f"```\n{procfile}```" in README


def test_the_subscriber_example_compiles():
    (example,) = [b for b in code_blocks("python") if "events.job_completed.connect" in b]
    compile(example, "README subscriber example", "exec")


def test_the_emulator_example_runs(capsys):
    pytest.importorskip("anthropic")
    (example,) = [b for b in code_blocks("python") if "Emulator(" in b]
    exec(compile(example, "README emulator example", "exec"), {})
    batch_id, creates = capsys.readouterr().out.split()
    assert batch_id.startswith("msgbatch_") and creates == "1"
