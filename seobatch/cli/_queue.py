"""The one place the CLI imports ``actors``: the queue a command sends its steps to.

Lazily, on purpose: importing ``actors`` builds the broker from the environment and
declares every actor, which ``--help`` and the read-only commands must not pay for (and
must not fail on); a command that sends imports it before it writes anything, so a
broken set-up leaves no job behind.
"""

from __future__ import annotations

from types import ModuleType


def queue() -> ModuleType:
    """``actors.queue`` (a ``seobatch.runs.Queue``): ``check_reachable``, ``send``, ``work``."""
    import actors.queue  # lazy: builds the broker (see the module docstring)

    return actors.queue
