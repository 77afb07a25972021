"""What the actors read at run time: the settings (``use_in_process`` replaces them)."""

from __future__ import annotations

from dataclasses import dataclass

from seobatch.config import Settings


@dataclass
class Runtime:
    """The settings the actors run with; replaced by ``broker.use_in_process``."""

    settings: Settings


runtime = Runtime(Settings.from_env())
