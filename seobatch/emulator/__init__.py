"""A local server that speaks the Anthropic Message Batches and Gemini Batch APIs.

``from seobatch.emulator import Emulator``; see ``server.Emulator``.
"""

from __future__ import annotations

from .faults import Faults
from .server import Emulator

__all__ = ["Emulator", "Faults"]
