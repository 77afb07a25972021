"""An example subscriber: one JSON line per lifecycle event, appended to an audit file.

Enable it with ``SEOBATCH_SUBSCRIBERS=seobatch.subscribers.audit_log`` in every process
that runs seobatch; the file is ``SEOBATCH_AUDIT_LOG`` (default ``seobatch-audit.jsonl``
in the working directory), handed over once by ``configure``. Events arrive after
commit, once per transition, or again after a process died mid-delivery (each line
carries ``event_id`` to dedupe on); a write that fails is recorded on the event, which
is retried (see ``seobatch.events``).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from .. import events
from ..config import Settings
from ..db import utcnow

_lock = threading.Lock()
_path = Settings().audit_log


def configure(settings: Settings) -> None:
    """Called by ``outbox.load_subscribers`` with the process's settings."""
    global _path
    _path = settings.audit_log


def write(event: str, data: dict[str, Any]) -> None:
    line = json.dumps({"event": event, "at": utcnow().isoformat() + "Z", **data},
                      ensure_ascii=False, default=str, sort_keys=True)
    with _lock, open(_path, "a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


# Module-level functions: blinker holds receivers weakly.
@events.job_submitted.connect
def on_submitted(job: Any, **data: Any) -> None:
    write("job_submitted", data)


@events.job_completed.connect
def on_completed(job: Any, **data: Any) -> None:
    write("job_completed", data)


@events.job_failed.connect
def on_failed(job: Any, **data: Any) -> None:
    write("job_failed", data)
