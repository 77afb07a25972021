"""An operator's shell for tests that call ``main()``: none of the machine's own seobatch,
provider or Redis variables leaks in, and the root logger that ``main()`` configures is
put back afterwards."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

#: What a test shell starts without (and ``REDIS_URL``): seobatch's settings, every provider's.
OPERATOR_PREFIXES = ("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "OPENAI_")


def clear_operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every seobatch and provider variable, and ``REDIS_URL`` (no Redis: in-process)."""
    for name in list(os.environ):
        if name.startswith(OPERATOR_PREFIXES) or name == "REDIS_URL":
            monkeypatch.delenv(name)


@contextmanager
def kept_root_logging() -> Iterator[logging.Logger]:
    """The root logger; its handlers and level as they were once the block ends."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
