"""The pipeline's stages, callable without a broker.

Each stage is a function ``(job_id, *, settings, provider=None, …) -> list[Step]``: it
loads the job, checks that it is in the state the stage expects, does its step in its
own transactions and returns the messages to send next. The caller (an actor, a test,
the ``--wait`` loop) sends them only after the function returned, i.e. after every
transaction of the stage committed. A stage run twice, or late, changes nothing.

    kickoff ─► collect ─► submit ─► poll ─┬─► results ─► completed
                                          └─► poll (later)
"""

from __future__ import annotations

from dataclasses import dataclass

#: The actors a Step may name (one per stage; see ``actors/``).
STAGE_ACTORS = ("collect", "submit", "poll", "results")


@dataclass(frozen=True)
class Step:
    """A message to send once the stage has committed: ``actor(job_id)`` after ``delay_ms``."""

    actor: str
    job_id: int
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.actor not in STAGE_ACTORS:
            raise ValueError(f"unknown stage actor {self.actor!r}")


__all__ = ["STAGE_ACTORS", "Step"]
