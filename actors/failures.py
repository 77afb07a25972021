"""The actors a job goes to when its stage gives up.

``job_gave_up`` is every stage actor's ``on_retry_exhausted``: Dramatiq sends it
``(message_dict, {"retries": …, "max_retries": …})``, not the job id. It hands the
stage's name and last error to ``stages.giveup.give_up``. ``submit_look_again`` is the
delayed second look of a submit that gave up right after sending a create (its batch
may not be listed yet): ``stages.submit.give_up`` with ``recheck``.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from seobatch.stages import submit as submit_stage
from seobatch.stages.giveup import give_up

from ._run import LOOK_AGAIN_ACTOR, act_on
from .broker import QUEUE
from .runtime import runtime


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=1_000, time_limit=5 * 60_000)
def job_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    args = message.get("args") or []
    if not args:
        return
    job_id, stage = int(args[0]), message.get("actor_name", "a stage")
    if retry_info.get("recheck"):  # a second look queued by a worker of the release before submit_look_again
        submit_look_again.fn(job_id, str(retry_info.get("reason") or "submit gave up"))
        return
    retries = retry_info.get("retries", "?")
    last = last_error((message.get("options") or {}).get("traceback") or "")
    reason = f"{stage} gave up after {retries} retries" + (f": {last}" if last else "")
    act_on(job_id, give_up(job_id, stage, reason, settings=runtime.settings, permanent=False), reason)


@dramatiq.actor(actor_name=LOOK_AGAIN_ACTOR, queue_name=QUEUE, max_retries=3, min_backoff=1_000,
                time_limit=5 * 60_000)
def submit_look_again(job_id: int, reason: str) -> None:
    outcome = submit_stage.give_up(job_id, reason, settings=runtime.settings, recheck=True)
    act_on(job_id, outcome, reason)


def last_error(traceback_text: str) -> str:
    """The exception line at the end of a formatted traceback."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""
