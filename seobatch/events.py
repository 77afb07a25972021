"""Lifecycle events: blinker signals sent after commit, exactly once per transition.

A ``mark_*`` transition writes an outbox row (``seo_batch_events``) in its own
transaction and asks for delivery after commit. Delivery claims the row with a
compare-and-set on ``published_at`` and then calls every receiver, each on its own:
a receiver that raises is logged and the others still run; the pipeline never notices.
A row whose process died between commit and delivery is delivered by the recovery sweep.

Subscribe with a module-level function (blinker holds receivers weakly)::

    from seobatch import events

    @events.job_completed.connect
    def on_completed(job, **data): ...
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from blinker import Namespace, NamedSignal

from . import db as _db
from .db import utcnow

log = logging.getLogger(__name__)

_events = Namespace()

job_submitted: NamedSignal = _events.signal(
    "job_submitted", doc="A job's batch was accepted by the provider (now processing)."
)
job_completed: NamedSignal = _events.signal(
    "job_completed", doc="A job's results were saved (completed, with counts and cost)."
)
job_failed: NamedSignal = _events.signal(
    "job_failed", doc="A job ended in failure; ``error`` says why."
)

SIGNALS = {s.name: s for s in (job_submitted, job_completed, job_failed)}


def record(job: Any, name: str, **extra: Any) -> None:
    """Write the outbox row for ``name`` and deliver it once the transaction commits."""
    from .models import SeoBatchEvent

    payload = {**job.event_payload(), **extra}
    event = SeoBatchEvent.create(job=job.id, name=name, payload=payload)
    _db.after_commit(lambda: deliver(event.id))


def deliver(event_id: int) -> bool:
    """Claim one outbox row and send its signal; False if another process already did."""
    from .models import SeoBatchEvent, SeoBatchJob

    claimed = (
        SeoBatchEvent.update(published_at=utcnow())
        .where((SeoBatchEvent.id == event_id) & SeoBatchEvent.published_at.is_null())
        .execute()
    )
    if claimed != 1:
        return False
    event = SeoBatchEvent.get_by_id(event_id)
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == event.job_id)
    send(SIGNALS[event.name], job, **event.payload)
    return True


def deliver_pending(older_than: timedelta = timedelta(seconds=30)) -> int:
    """Deliver outbox rows that committed but were never sent (their process died)."""
    from .models import SeoBatchEvent

    cutoff = utcnow() - older_than
    ids = [
        row.id
        for row in SeoBatchEvent.select(SeoBatchEvent.id)
        .where(SeoBatchEvent.published_at.is_null() & (SeoBatchEvent.created_at < cutoff))
        .order_by(SeoBatchEvent.id)
    ]
    return sum(deliver(event_id) for event_id in ids)


def send(signal: NamedSignal, sender: Any, **data: Any) -> None:
    """Call each receiver of ``signal``; one that raises is logged, never propagated."""
    for receiver in list(signal.receivers_for(sender)):
        try:
            receiver(sender, **data)
        except Exception:
            log.exception(
                "event subscriber %s failed on %s for job %s",
                getattr(receiver, "__qualname__", receiver),
                signal.name,
                data.get("job_id"),
            )


def load_subscribers(modules: Iterable[str]) -> list[str]:
    """Import the modules named in ``SEOBATCH_SUBSCRIBERS`` so they connect receivers."""
    loaded = []
    for name in modules:
        importlib.import_module(name)
        loaded.append(name)
    return loaded


__all__ = [
    "SIGNALS",
    "deliver",
    "deliver_pending",
    "job_completed",
    "job_failed",
    "job_submitted",
    "load_subscribers",
    "record",
    "send",
]
