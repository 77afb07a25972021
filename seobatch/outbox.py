"""The event outbox: a lifecycle event is a row written with its transition, then delivered.

``record`` writes the row (``seo_batch_events``) inside the ``mark_*`` transaction and
asks for delivery once it commits. ``deliver`` claims the row with a lease (a
compare-and-set on ``claimed_until``), makes sure this process has imported its
subscriber modules (``load_subscribers``, once per process), calls every receiver that
has not yet returned for this row, and records each one that returns. When all have
returned the row is published. When one raised, the row keeps which receiver and its
redacted error, and is left for the recovery sweep (``deliver_pending``) after a
backoff; after ``settings.event_max_attempts`` deliveries it is marked failed. A
failure of the delivery itself (a database error, …) is logged, never raised out of
``mark_*``: the transition has committed, and the sweep delivers every row that is
neither published nor failed once it is due and unclaimed (or its lease ran out).

The contract subscribers get is in ``seobatch.events``' docstring.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import peewee

from . import db as _db
from . import events
from .config import Settings
from .db import utcnow
from .logs import redact
from .models import SeoBatchEvent, SeoBatchJob

log = logging.getLogger("seobatch.events")

#: Wait before the first retry of an event a receiver raised on; doubled each attempt.
RETRY_AFTER = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
#: The recorded error is cut here (a receiver's exception text can be anything).
ERROR_CHARS = 1000
#: Why a row whose last allowed delivery never finished is failed by the sweep.
DIED = "the delivery did not finish (its process died or outlived the lease)"

Outcome = Literal["delivered", "retry", "gave_up"]


class _LeaseLost(Exception):
    """Another delivery took the row over (ours outlived the lease): leave it to that one."""


class _Process:
    """What this process has loaded: the settings deliveries use, the modules configured."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: Settings | None = None
        self.configured: dict[str, Settings] = {}


_process = _Process()


def load_subscribers(modules: Iterable[str], settings: Settings) -> list[str]:
    """Import the subscriber modules (they connect their receivers) and configure them.

    Each module's optional ``configure(settings)`` is called once per process, and again
    only if called with other settings. Deliveries in this process use ``settings``
    from now on. Raises what the import or ``configure`` raised.
    """
    loaded = []
    with _process.lock:
        _process.settings = settings
        for name in modules:
            module = importlib.import_module(name)
            if _process.configured.get(name) != settings:
                configure = getattr(module, "configure", None)
                if callable(configure):
                    configure(settings)
                _process.configured[name] = settings
            loaded.append(name)
    return loaded


def _settings(given: Settings | None) -> Settings:
    if given is not None:
        return given
    if _process.settings is not None:
        return _process.settings
    # A mark_* transition (the seed's contract: no settings argument) delivers in
    # whatever process committed it; when nothing in this process loaded subscribers
    # yet (``seobatch cancel``), the outbox reads them from the environment, once.
    with _process.lock:
        if _process.settings is None:
            _process.settings = Settings.from_env()
        return _process.settings


def record(job: SeoBatchJob, name: str, **extra: Any) -> None:
    """Write the outbox row for ``name`` and deliver it once the transaction commits."""
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


def _due(now: datetime) -> peewee.Expression:
    """Rows a delivery may claim now: pending, unclaimed (or lease over), not backing off."""
    e = SeoBatchEvent
    return (
        e.published_at.is_null()
        & e.failed_at.is_null()
        & (e.claimed_until.is_null() | (e.claimed_until < now))
        & (e.next_attempt_at.is_null() | (e.next_attempt_at <= now))
    )


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed delivery an event is tried again."""
    return min(RETRY_AFTER * 2 ** max(0, attempts - 1), RETRY_MAX)


def deliver(event_id: int, *, settings: Settings | None = None) -> Outcome | None:
    """Claim one outbox row, call the receivers that have not returned yet, record the outcome.

    Returns ``delivered`` (every receiver returned: published), ``retry`` (one raised:
    the sweep sends it again after ``retry_delay``), ``gave_up`` (it raised on the last
    allowed attempt: the row is marked failed), or None when the row is not due or another delivery holds it.
    """
    settings = _settings(settings)
    now = utcnow()
    # A claim keeps other deliveries off the row (SEOBATCH_EVENT_LEASE); a receiver that
    # outlives it may see its event sent again.
    until = now + timedelta(seconds=settings.event_lease_seconds)
    e = SeoBatchEvent
    claimed = (
        e.update(claimed_until=until, attempts=e.attempts + 1)
        .where((e.id == event_id) & _due(now))
        .execute()
    )
    if claimed != 1:
        return None
    event = e.get_by_id(event_id)
    mine = (e.id == event_id) & (e.claimed_until == until)  # fenced: only while we hold it
    failures: list[tuple[str, Exception]] = []
    try:
        load_subscribers(settings.subscribers, settings)
    except Exception as exc:  # a typo in SEOBATCH_SUBSCRIBERS, or a broken module
        log.exception("cannot load the event subscribers %s", ",".join(settings.subscribers))
        failures.append(("SEOBATCH_SUBSCRIBERS", exc))
    done: list[str] = list(event.delivered_to or [])

    def returned(name: str) -> None:
        done.append(name)
        if e.update(delivered_to=done).where(mine).execute() != 1:
            raise _LeaseLost(name)

    job = SeoBatchJob.get_or_none(SeoBatchJob.id == event.job_id)
    data = {**event.payload, "event_id": event.id}
    try:
        failures += events.send(events.ALL_SIGNALS[event.name], job, data, skip=set(done), returned=returned)
    except _LeaseLost:
        log.warning("event %s: another delivery took it over (this one outlived its lease)", event_id)
        return None
    now = utcnow()
    if not failures:
        e.update(published_at=now, next_attempt_at=None, delivered_to=done).where(
            mine & e.published_at.is_null()
        ).execute()
        return "delivered"
    error = redact(
        "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in failures), settings.secrets()
    )[:ERROR_CHARS]
    if event.attempts >= settings.event_max_attempts:
        e.update(failed_at=now, last_error=error, claimed_until=None).where(mine).execute()
        log.error("event %s (%s of job %s) failed after %s attempts: %s",
                  event_id, event.name, event.job_id, event.attempts, error)
        return "gave_up"
    retry_at = now + retry_delay(event.attempts)
    e.update(next_attempt_at=retry_at, last_error=error, claimed_until=None).where(mine).execute()
    log.warning("event %s (%s of job %s) attempt %s of %s failed, again after %s: %s",
                event_id, event.name, event.job_id, event.attempts, settings.event_max_attempts,
                _db.iso(retry_at), error)
    return "retry"


def deliver_pending(
    *, settings: Settings | None = None, older_than: timedelta = timedelta(seconds=30)
) -> int:
    """Deliver the outbox rows that are due: committed but never published (their delivery
    failed, a receiver raised and the backoff is over, or their process died — a claimed
    row only once its lease ran out). Returns how many were delivered."""
    settings = _settings(settings)
    now = utcnow()
    e = SeoBatchEvent
    # A row whose last allowed delivery died holding it has nobody left to fail it.
    e.update(
        failed_at=now, last_error=peewee.fn.COALESCE(e.last_error, DIED), claimed_until=None
    ).where(
        e.published_at.is_null() & e.failed_at.is_null() & (e.claimed_until < now)
        & (e.attempts >= settings.event_max_attempts)
    ).execute()
    ids = [
        row.id
        # A fresh row (never attempted) is left to its own after-commit delivery a while.
        for row in e.select(e.id)
        .where(_due(now) & ((e.created_at < now - older_than) | (e.attempts > 0)))
        .order_by(e.id)
    ]
    return sum(deliver(event_id, settings=settings) == "delivered" for event_id in ids)


def backlog() -> tuple[int, int]:
    """(events waiting for delivery, events failed for good), counted by one query."""
    e = SeoBatchEvent
    rows = (
        e.select(e.failed_at.is_null(False), peewee.fn.COUNT(e.id))
        .where(e.published_at.is_null())
        .group_by(e.failed_at.is_null(False))
        .tuples()
    )
    counts = {bool(failed): int(n) for failed, n in cast("Iterable[tuple[Any, int]]", rows)}
    return counts.get(False, 0), counts.get(True, 0)


__all__ = ["backlog", "deliver", "deliver_pending", "load_subscribers", "record", "retry_delay"]
