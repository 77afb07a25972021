"""Listening to every event signal for the length of a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from seobatch import events

R = TypeVar("R", bound=Callable[..., Any])


@contextmanager
def listening(receiver: R) -> Iterator[R]:
    """``receiver`` connected to every signal of ``events.SIGNALS`` until the block ends.

    Blinker holds receivers weakly: keep ``receiver`` referenced (the fixture does).
    """
    for signal in events.SIGNALS.values():
        signal.connect(receiver)
    try:
        yield receiver
    finally:
        for signal in events.SIGNALS.values():
            signal.disconnect(receiver)
