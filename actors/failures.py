"""job_gave_up: where a stage's message goes when its retries are exhausted.

Dramatiq sends it ``(message_dict, {"retries": …, "max_retries": …})``, not the job id
(the Retries middleware's ``on_retry_exhausted``). It hands the stage's name and last
error to ``give_up``, which fails the job — or, when that could orphan a paid batch,
reconciles first (submit) or leaves the job to the recovery sweep (poll, results).
``give_up`` also sends it ``{"reason": …, "recheck": True}`` to look for a just-created
batch once more before failing a submit.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from ._run import give_up
from .broker import QUEUE


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=1_000, time_limit=5 * 60_000)
def job_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    args = message.get("args") or []
    if not args:
        return
    stage = message.get("actor_name", "a stage")
    reason = retry_info.get("reason")
    if not reason:
        retries = retry_info.get("retries", "?")
        last = last_error((message.get("options") or {}).get("traceback") or "")
        reason = f"{stage} gave up after {retries} retries" + (f": {last}" if last else "")
    give_up(int(args[0]), stage, reason, permanent=False, recheck=bool(retry_info.get("recheck")))


def last_error(traceback_text: str) -> str:
    """The exception line at the end of a formatted traceback."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""
