"""How an actor runs its stage and turns the outcome into Dramatiq's terms.

The decisions live in ``seobatch.stages``; this module only translates: the stage's
steps are sent after it returned (its transactions committed); a transient error is
retried by Dramatiq (after the provider's ``retry-after`` when it gave one); a
permanent error ends the message and hands the job to ``stages.giveup.give_up``, whose
``GiveUp`` says what to send next.
"""

from __future__ import annotations

from collections.abc import Iterable

import dramatiq

from seobatch.errors import ConfigError, PermanentError, TransientError, ValidationError
from seobatch.stages import STAGES, Step
from seobatch.stages.giveup import give_up
from seobatch.stages.jobstate import GiveUp

from .runtime import runtime

#: Longest wait a provider's ``retry-after`` may impose on one retry.
MAX_RETRY_AFTER_SECONDS = 3600

#: The actor that gives a submit that gave up its second look (``GiveUp.look_again_ms``).
LOOK_AGAIN_ACTOR = "submit_look_again"


def run_stage(name: str, job_id: int) -> None:
    """Run stage ``name`` for ``job_id`` and send its next steps once it has committed.

    A permanent error (or bad configuration) ends the message without a retry and gives
    the job up, with its reason. A transient error propagates to Dramatiq's Retries
    middleware (honouring the provider's ``retry-after``); when the retries run out,
    ``job_gave_up`` gives the job up.
    """
    settings = runtime.settings
    try:
        steps = STAGES[name](job_id, settings=settings)
    except (PermanentError, ConfigError, ValidationError) as exc:
        act_on(job_id, give_up(job_id, name, f"{name}: {exc}", settings=settings, permanent=True), f"{name}: {exc}")
        return
    except TransientError as exc:
        if exc.retry_after:
            delay = int(min(float(exc.retry_after), MAX_RETRY_AFTER_SECONDS) * 1000)
            raise dramatiq.Retry(str(exc), delay=max(delay, 1)) from exc
        raise
    send_steps(steps)


def send_steps(steps: Iterable[Step]) -> None:
    """Enqueue each step (after the stage's transactions committed) on its actor."""
    broker = dramatiq.get_broker()
    for step in steps:
        broker.get_actor(step.actor).send_with_options(args=(step.job_id,), delay=step.delay_ms or None)


def act_on(job_id: int, outcome: GiveUp, reason: str) -> None:
    """Do what a give-up asked for: send its steps, or schedule the submit's second look."""
    send_steps(outcome.steps)
    if outcome.look_again_ms is not None:
        dramatiq.get_broker().get_actor(LOOK_AGAIN_ACTOR).send_with_options(
            args=(job_id, reason), delay=outcome.look_again_ms
        )
