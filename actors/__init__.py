"""Dramatiq actors: thin, one per stage; the logic lives in ``seobatch.stages``.

``dramatiq actors`` imports this package: the broker first (actors bind to it when
declared), then every actor module.
"""

from __future__ import annotations

from . import broker  # noqa: F401  (must come first)
from .collect import collect
from .failures import job_gave_up
from .poll import poll
from .results import results
from .submit import submit

#: Step.actor → actor.
ACTORS = {
    "collect": collect,
    "submit": submit,
    "poll": poll,
    "results": results,
    "job_gave_up": job_gave_up,
}

from ._run import send_steps  # noqa: E402

__all__ = ["ACTORS", "collect", "job_gave_up", "poll", "results", "send_steps", "submit"]
