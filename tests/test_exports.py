"""``seobatch``'s declared public surface: every name resolves, to the object its module defines."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import pytest

import seobatch


def test_every_public_name_resolves_to_its_modules_own_object():
    names = [n for n in seobatch.__all__ if n != "__version__"]
    assert sorted(names) == sorted(seobatch._EXPORTS), "__all__ and _EXPORTS list different names"
    assert len(set(seobatch.__all__)) == len(seobatch.__all__), "a name is listed twice"
    for name in names:
        module = importlib.import_module(f"seobatch.{seobatch._EXPORTS[name]}")
        assert getattr(seobatch, name) is getattr(module, name), name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        seobatch.Nope  # noqa: B018


def test_the_version_is_the_packages():
    assert seobatch.__version__ == importlib.metadata.version("seobatch")


def test_star_import_gives_exactly_the_public_surface():
    namespace: dict[str, object] = {}
    exec("from seobatch import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(seobatch.__all__)


def test_importing_seobatch_loads_no_submodule():
    # The surface loads on first use: the CLI's start-up and the import graph stay as they are
    code = "import sys, seobatch; print(sorted(m for m in sys.modules if m.startswith('seobatch.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
