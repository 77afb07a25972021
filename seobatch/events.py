"""Lifecycle events: blinker signals sent after commit, once per transition.

A ``mark_*`` transition writes an outbox row (``seo_batch_events``) in its own
transaction and asks for delivery after commit. Delivery claims the row with a lease
(a compare-and-set on ``claimed_until``), calls every receiver, each on its own, and
only then sets ``published_at``. A receiver that raises is logged and the others still
run; the pipeline never notices. A failure of the delivery itself (a database error, …)
is logged, never raised out of ``mark_*``: the transition has committed, and the
recovery sweep (``deliver_pending``) sends every row that is unpublished and unclaimed
(or whose lease ran out).

What a subscriber can rely on:

- never for state that did not commit;
- exactly once per transition while processes live: retries, duplicate messages and
  concurrent sweeps cannot claim a row that another delivery holds or finished;
- at least once across a process that dies (SIGKILL, time limit, lost connection)
  after its claim and before ``published_at`` was written: the sweep delivers the row
  again once the lease (``LEASE``) expires, so a receiver may hear that event twice.
  Every delivery carries ``event_id`` (the outbox row's id) in its keyword data;
  a subscriber with effects that must not repeat dedupes on it.

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


#: How long a claim keeps other deliveries off a row. Receivers should be quick (hand
#: slow work to a queue); one that outlives the lease may see its event sent again.
LEASE = timedelta(minutes=5)


def record(job: Any, name: str, **extra: Any) -> None:
    """Write the outbox row for ``name`` and deliver it once the transaction commits."""
    from .models import SeoBatchEvent

    payload = {**job.event_payload(), **extra}
    event = SeoBatchEvent.create(job=job.id, name=name, payload=payload)
    _db.after_commit(lambda: _deliver_after_commit(event.id))


def _deliver_after_commit(event_id: int) -> None:
    # The transition has committed: an error here must not reach the caller of mark_*
    # (it would retry a step whose state already moved). The row stays unpublished and
    # the recovery sweep delivers it.
    try:
        deliver(event_id)
    except Exception:
        log.exception("event %s not delivered after commit; the recovery sweep will", event_id)


def _unclaimed(now: Any) -> Any:
    from .models import SeoBatchEvent

    return SeoBatchEvent.published_at.is_null() & (
        SeoBatchEvent.claimed_until.is_null() | (SeoBatchEvent.claimed_until < now)
    )


def deliver(event_id: int) -> bool:
    """Claim one outbox row, send its signal, mark it published.

    False if the row is published or another delivery holds its lease.
    """
    from .models import SeoBatchEvent, SeoBatchJob

    now = utcnow()
    claimed = (
        SeoBatchEvent.update(claimed_until=now + LEASE)
        .where((SeoBatchEvent.id == event_id) & _unclaimed(now))
        .execute()
    )
    if claimed != 1:
        return False
    event = SeoBatchEvent.get_by_id(event_id)
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == event.job_id)
    send(SIGNALS[event.name], job, **{**event.payload, "event_id": event.id})
    (
        SeoBatchEvent.update(published_at=utcnow())
        .where((SeoBatchEvent.id == event_id) & SeoBatchEvent.published_at.is_null())
        .execute()
    )
    return True


def deliver_pending(older_than: timedelta = timedelta(seconds=30)) -> int:
    """Deliver outbox rows that committed but were never published (their delivery
    failed or their process died; a claimed row only once its lease ran out)."""
    from .models import SeoBatchEvent

    now = utcnow()
    ids = [
        row.id
        for row in SeoBatchEvent.select(SeoBatchEvent.id)
        .where(_unclaimed(now) & (SeoBatchEvent.created_at < now - older_than))
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
    "LEASE",
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
