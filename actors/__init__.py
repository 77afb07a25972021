"""Dramatiq actors: thin, one per stage; the logic lives in ``seobatch.stages``.

``dramatiq actors`` imports this package. Each actor module imports ``.broker`` first
(actors bind to the broker when they are declared), so the import order here does not
matter. The broker is the registry of actors: ``dramatiq.get_broker().get_actor(name)``.
"""

from __future__ import annotations

from . import broker
from ._run import send_steps
from .collect import collect
from .failures import job_gave_up, submit_look_again
from .poll import poll
from .results import results
from .submit import submit

__all__ = ["broker", "collect", "job_gave_up", "poll", "results", "send_steps", "submit", "submit_look_again"]
