"""Fixtures of the stage tests: settings pointing at the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pipeline_support import make_settings

from seobatch.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(processing_seconds=0.0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def settings(emulator):
    return make_settings(emulator)
