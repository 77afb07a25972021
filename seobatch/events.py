"""Lifecycle events: three blinker signals, and ``send``, which calls their receivers.

The signals fire after commit, once per transition, through the outbox
(``seobatch.outbox``): a ``mark_*`` transition writes an outbox row in its own
transaction, and the row is delivered once that transaction commits, or later by the
recovery sweep. The delivery contract a subscriber can rely on:

- never for state that did not commit;
- every process that delivers (worker, ``seobatch cancel``/``recover``/``run --wait``,
  the clock, the demo) first imports the modules of ``SEOBATCH_SUBSCRIBERS`` (once per
  process) and calls their optional ``configure(settings)``;
- an event counts as delivered only when every receiver has returned. A receiver that
  raises is logged and recorded on the row (which receiver, the redacted error); the
  others still run, the pipeline never notices, and the event is sent again by the
  recovery sweep with backoff, up to ``SEOBATCH_EVENT_MAX_ATTEMPTS`` deliveries, then
  marked failed (``seobatch job ID``, the ``seobatch_events_failed`` gauge);
- a receiver that returned is recorded too and not called again on a retry;
- at least once per receiver across a process that dies (SIGKILL, time limit, lost
  connection) between a receiver's return and its record: the sweep delivers the row
  again once the lease (``SEOBATCH_EVENT_LEASE``) expires. Every delivery carries ``event_id``
  (the outbox row's id) in its keyword data; a subscriber with effects that must not
  repeat dedupes on it.

Subscribe with a module-level function (blinker holds receivers weakly)::

    from seobatch import events

    @events.job_completed.connect
    def on_completed(job, **data): ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from blinker import NamedSignal, Namespace

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

job_failed_over: NamedSignal = _events.signal(
    "job_failed_over",
    doc="A late job's batch was canceled and its pages without a result moved to a new job "
        "(``failover_job_id``) of the fallback model (``failover_model``); ``reason`` says why.",
)


pages_published: NamedSignal = _events.signal(
    "pages_published",
    doc="Pages' live SEO fields changed (a job's results, or an approval): counts and "
    "``change_id``; read the pages with ``seobatch.revisions.changed_pages``.",
)
pages_rolled_back: NamedSignal = _events.signal(
    "pages_rolled_back",
    doc="A rollback restored pages' earlier values; read them like ``pages_published``'s.",
)

#: The job lifecycle signals (the seed's contract).
SIGNALS = {s.name: s for s in (job_submitted, job_completed, job_failed, job_failed_over)}
#: The page signals: what changed on the site (``seobatch.revisions``).
PAGE_SIGNALS = {s.name: s for s in (pages_published, pages_rolled_back)}
#: Every signal the outbox delivers, by event name.
ALL_SIGNALS = {**SIGNALS, **PAGE_SIGNALS}


def receiver_name(receiver: Any) -> str:
    """A receiver's name that is the same in every process: ``module.qualname``."""
    module = getattr(receiver, "__module__", None) or type(receiver).__module__
    qualname = getattr(receiver, "__qualname__", None) or type(receiver).__qualname__
    return f"{module}.{qualname}"


def send(
    signal: NamedSignal,
    sender: Any,
    data: Mapping[str, Any],
    *,
    skip: Collection[str] = (),
    returned: Callable[[str], None] | None = None,
) -> list[tuple[str, Exception]]:
    """Call each receiver of ``signal`` not named in ``skip``, each on its own.

    A receiver that raises is logged and the others still run; ``returned(name)`` is
    called after each one that returned. Returns the receivers that raised, with their
    error. Two receivers with the same name are told apart by a ``#2``, ``#3`` suffix.
    """
    failed: list[tuple[str, Exception]] = []
    seen: dict[str, int] = {}
    for receiver in list(signal.receivers_for(sender)):
        name = receiver_name(receiver)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        if name in skip:
            continue
        try:
            receiver(sender, **data)
        except Exception as exc:
            log.exception(
                "event subscriber %s failed on %s for job %s", name, signal.name, data.get("job_id")
            )
            failed.append((name, exc))
            continue
        if returned is not None:
            returned(name)  # outside the try: its own error (a lost lease) ends the delivery
    return failed


__all__ = [
    "ALL_SIGNALS", "PAGE_SIGNALS", "SIGNALS", "job_completed", "job_failed", "job_failed_over", "job_submitted",
    "pages_published", "pages_rolled_back", "receiver_name", "send",
]
