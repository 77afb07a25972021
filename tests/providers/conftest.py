"""Fixtures for the provider client tests (the scripted fake servers and the recording
sleep are in tests/conftest.py: tests/test_http.py uses them too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.memory import child_emulator


@pytest.fixture
def emulator_with_key() -> Iterator[object]:
    """An emulator that accepts only the key ``right-key`` (others get the real 401/400 shape)."""
    from seobatch.emulator import Emulator

    emu = Emulator(api_key="right-key").start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """The url of an emulator in a child process (tracemalloc here then sees the client alone)."""
    with child_emulator() as url:
        yield url
