"""The layers contract in pyproject.toml covers every module of the package.

import-linter checks only the modules a contract names: a new top-level module left out
of the layers (or out of the emulator's forbidden list) would be checked by nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["type"] + ":" + c["name"][:20]: c for c in config["tool"]["importlinter"]["contracts"]}


def _top_level_modules() -> set[str]:
    package = ROOT / "seobatch"
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    return {f"seobatch.{n}" for n in names}


def _named(layers: list[str]) -> set[str]:
    return {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}


def test_every_module_of_the_package_has_a_layer():
    (layers,) = [c for k, c in _contracts().items() if k.startswith("layers:")]
    missing = _top_level_modules() - _named(layers["layers"]) - {"seobatch.emulator"}
    assert not missing, f"add {sorted(missing)} to a layer in pyproject.toml"


def test_the_emulator_may_import_no_other_module_of_the_package():
    (emulator,) = [c for c in _contracts().values() if c.get("source_modules") == ["seobatch.emulator"]]
    missing = _top_level_modules() - set(emulator["forbidden_modules"]) - {"seobatch.emulator", "seobatch.__main__"}
    assert not missing, f"add {sorted(missing)} to the emulator's forbidden modules in pyproject.toml"
