"""The pipeline's stages, callable without a broker.

Each stage is a function ``(job_id, *, settings, provider=None, …) -> list[Step]``: it
loads the job, checks that it is in the state the stage expects, does its step in its
own transactions and returns the messages to send next. The caller (an actor, a test,
the bench, the ``--wait`` loop) sends them only after the function returned, i.e. after
every transaction of the stage committed. A stage run twice, or late, changes nothing.

    kickoff ─► collect ─► submit ─► poll ─┬─► results ─► completed
                                          └─► poll (later)

``STAGES`` is the one map from a Step's name to its stage function: the actors, the
recovery sweep (``STAGE_FOR``), ``drive`` and the bench all look stages up here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from . import collect as _collect
from . import poll as _poll
from . import results as _results
from . import submit as _submit
from .step import STAGE_FOR, STAGE_NAMES, Step

if TYPE_CHECKING:
    from ..config import Settings
    from ..providers.base import BatchProvider

#: A stage: ``(job_id, *, settings, provider=None) -> list[Step]``.
StageFn = Callable[..., list[Step]]

#: Step name → stage function, in pipeline order.
STAGES: Final[dict[str, StageFn]] = {
    "collect": _collect.collect,
    "submit": _submit.submit,
    "poll": _poll.poll,
    "results": _results.results,
}
assert tuple(STAGES) == STAGE_NAMES

#: The old name of ``STAGE_NAMES``.
STAGE_ACTORS: Final = STAGE_NAMES


class DidNotSettle(RuntimeError):
    """``drive`` ran more steps than allowed, or past its deadline."""


@dataclass
class Driven:
    """What ``drive`` ran (in order) and the steps it left for other stages."""

    trace: list[Step] = field(default_factory=list)
    left: list[Step] = field(default_factory=list)


def drive(
    steps: Iterable[Step],
    *,
    settings: Settings,
    provider: BatchProvider | None = None,
    only: str | None = None,
    honour_delays: bool = False,
    max_steps: int | None = None,
    timeout: float | None = None,
) -> Driven:
    """Run ``steps`` and the steps they return, in order, in this thread: a worker
    without a broker. ``only``: run just that stage's steps and leave the others in
    ``left``; ``honour_delays``: sleep a step's delay first (else delays are ignored).
    Raises DidNotSettle past ``max_steps`` steps or ``timeout`` seconds."""
    queue = list(steps)
    done = Driven()
    kwargs: dict[str, object] = {"settings": settings}
    if provider is not None:
        kwargs["provider"] = provider
    deadline = None if timeout is None else time.monotonic() + timeout
    while queue:
        step = queue.pop(0)
        if only is not None and step.actor != only:
            done.left.append(step)
            continue
        done.trace.append(step)
        if max_steps is not None and len(done.trace) > max_steps:
            raise DidNotSettle(f"the pipeline did not settle in {max_steps} steps: {done.trace[-5:]}")
        if honour_delays and step.delay_ms:
            time.sleep(step.delay_ms / 1000)  # a delayed message (poll backoff)
        if deadline is not None and time.monotonic() > deadline:
            raise DidNotSettle(f"stage {only or step.actor} did not finish in {timeout}s")
        queue.extend(STAGES[step.actor](step.job_id, **kwargs))
    return done


__all__ = [
    "STAGES", "STAGE_ACTORS", "STAGE_FOR", "STAGE_NAMES", "DidNotSettle", "Driven", "StageFn", "Step", "drive",
]
