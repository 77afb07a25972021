"""job_gave_up: where a stage's message goes when its retries are exhausted.

Dramatiq sends it ``(message_dict, {"retries": …, "max_retries": …})``, not the job id
(the Retries middleware's ``on_retry_exhausted``). It marks the job failed with the
stage's name and its last error, once, whichever stage gave up.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from ._run import fail
from .broker import QUEUE


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=1_000, time_limit=60_000)
def job_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    args = message.get("args") or []
    if not args:
        return
    stage = message.get("actor_name", "a stage")
    retries = retry_info.get("retries", "?")
    last = last_error(message.get("options", {}).get("traceback") or "")
    fail(int(args[0]), f"{stage} gave up after {retries} retries" + (f": {last}" if last else ""))


def last_error(traceback_text: str) -> str:
    """The exception line at the end of a formatted traceback."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""
