"""How a job's state changes outside a status transition: metadata compare-and-set, failing.

``SeoBatchJob.transition`` moves a job between statuses; this module holds the two other
writes every stage needs. ``update_metadata`` merges metadata keys under a row lock
while the status is still an expected one; ``fail_job`` is the one way a job fails
(the reason redacted first, the items left without a result settled with it).
``GiveUp`` is what a stage that gave up on a job tells its caller to do next (see
``giveup.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import db as _db
from ..db import utcnow
from ..jobmeta import CANCELED_REASON, ItemStatus
from ..logs import redact
from ..models import SeoBatchItem, SeoBatchJob
from ._common import load_job, log
from .step import Step

if TYPE_CHECKING:
    from ..config import Settings


def update_metadata(
    job_id: int,
    *,
    expected: Iterable[str],
    changes: dict[str, Any],
    if_meta: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any] | None:
    """Merge ``changes`` into the job's metadata if its status is still one of ``expected``
    (and each key of ``if_meta`` still has that value; None = absent).

    A compare-and-set that keeps the status (``transition`` is for moves): the row is
    locked, so two workers merging at once never lose each other's keys. A value of None
    removes the key. Returns the new metadata, or None when the job had moved on.
    """
    expected = tuple(expected)
    with _db.write_transaction():
        row = _db.lock_for_update(
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.metadata).where(SeoBatchJob.id == job_id)
        ).first()
        if row is None or row.status not in expected:
            return None
        if if_meta and any((row.metadata or {}).get(k) != v for k, v in if_meta.items()):
            return None
        meta = {**(row.metadata or {}), **changes}
        meta = {k: v for k, v in meta.items() if v is not None}
        values = {SeoBatchJob.metadata: meta, SeoBatchJob.updated_at: utcnow()}
        values.update({SeoBatchJob._meta.fields[k]: v for k, v in fields.items()})
        SeoBatchJob.update(values).where(SeoBatchJob.id == job_id).execute()
        return meta


def safe_reason(reason: object, settings: Settings | None) -> str:
    """``reason`` as text with the settings' keys and every key-shaped string redacted."""
    return redact(str(reason), settings.secrets() if settings is not None else ())


def fail_job(
    job: SeoBatchJob | int,
    reason: str,
    *,
    settings: Settings | None = None,
    expected: Iterable[str] | None = None,
) -> bool:
    """Mark the job failed (emits job_failed after commit) and log the reason once.

    The one way a job fails: the reason is redacted first (the settings' keys and every
    key-shaped string), because it is stored, logged and handed to subscribers. In the
    same transaction its items still ``pending`` take the job's outcome (``settle_unfinished``).
    """
    reason = safe_reason(reason, settings)
    row = job if isinstance(job, SeoBatchJob) else load_job(int(job))
    if row is None or not row.is_active:
        return False
    with _db.write_transaction():
        won = row.mark_failed(reason, **({"expected": tuple(expected)} if expected else {}))
        if won:
            settle_unfinished(row.id, canceled=reason.startswith(CANCELED_REASON))
    if won:
        log.warning("job %s failed: %s", row.id, reason)
    return bool(won)


def settle_unfinished(job_id: int, *, canceled: bool) -> int:
    """Give a failed job's ``pending`` items its outcome in one UPDATE; returns how many.

    A failed job never moves again, so its pending items would never get a result:
    ``canceled`` after an operator's cancel, else ``failed``. Neither charges the page an
    attempt (only ``errored`` does), so the pages are collected again on a later night.
    """
    status = ItemStatus.CANCELED if canceled else ItemStatus.FAILED
    return int(SeoBatchItem.update(status=status).where(
        (SeoBatchItem.job == job_id) & (SeoBatchItem.status == ItemStatus.PENDING)).execute())


@dataclass(frozen=True)
class GiveUp:
    """What the caller does after a stage gave up on a job (failed it, or chose not to).

    Send ``steps`` (a batch was found and adopted: the job goes on); with
    ``look_again_ms``, run the submit give-up once more after that many milliseconds,
    with ``recheck`` (a batch created a moment ago may not be listed yet). Neither: done.
    """

    steps: tuple[Step, ...] = ()
    look_again_ms: int | None = None


#: Nothing more to do (the job failed, or is left to another attempt or the sweep).
DONE = GiveUp()
