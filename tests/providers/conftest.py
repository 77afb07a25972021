"""Fixtures for the provider client tests: scripted fake servers and a recording sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakehttp import FakeServer, Sleeps


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def other_fake() -> Iterator[FakeServer]:
    """A second server: "another host" for redirect and results_url tests."""
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def emulator_with_key() -> Iterator[object]:
    """An emulator that accepts only the key ``right-key`` (others get the real 401/400 shape)."""
    from seobatch.emulator import Emulator

    emu = Emulator(api_key="right-key").start()
    try:
        yield emu
    finally:
        emu.stop()
