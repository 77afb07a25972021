"""Fixtures of the stage tests: settings pointing at the emulator (``emulator`` is global)."""

from __future__ import annotations

import pytest

from tests.support.pipeline import make_settings


@pytest.fixture
def settings(emulator):
    return make_settings(emulator)
