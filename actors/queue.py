"""The actors as a ``seobatch.runs.Queue``: check the broker, send steps, or work them here.

``seobatch.runs.start_run`` and the clock take one of these (the library never imports
the actors); the CLI reaches it through ``seobatch/cli/_queue.py``, the scripts directly.
"""

from __future__ import annotations

from ._run import send_steps as send
from .broker import check_reachable
from .inprocess import work

__all__ = ["check_reachable", "send", "work"]
