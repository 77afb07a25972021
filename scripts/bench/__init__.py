"""The scale benchmark behind ``scripts/bench.py``; not shipped with the package.

``harness`` drives a run: it seeds synthetic pages into a schema of its own, starts the
emulator in a separate process, runs each pipeline stage — the same stage functions
``seobatch run`` and the actors call — in a fresh child process (``child.py``, run as a script), measures
the database floor on the same data (``floor``), prints one row per stage and cleans up.
"""

from __future__ import annotations
