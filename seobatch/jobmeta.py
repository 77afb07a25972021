"""The job's state vocabulary: its statuses, its items' statuses, and every metadata key.

``SeoBatchJob.status`` is the seed's state machine; ``SeoBatchJob.metadata`` (JSON) holds
what each stage needs to be idempotent and recoverable — leases, stamps, cursors and
flags. Both are spelled here and only here: elsewhere a key or a status is one of these
names, so a typo is an ``AttributeError`` at import, not a silent no-op. Each key says
which stage writes it and what it means. Stamps are ISO-8601 UTC strings (``db.iso``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobStatus(StrEnum):
    """The seed's job statuses (a ``str``: compares equal to the stored value)."""

    COLLECTING = "collecting"  #: items are being built, a chunk of pages at a time
    SUBMITTING = "submitting"  #: the batch is being (or may have been) created at the provider
    PROCESSING = "processing"  #: the provider holds the batch; polled, then its results saved
    COMPLETED = "completed"  #: results saved (or canceled/expired with what finished)
    FAILED = "failed"  #: cannot go on; ``metadata[ERROR]`` says why


class ItemStatus(StrEnum):
    """A page's outcome within one job."""

    PENDING = "pending"  #: no result yet
    SUCCEEDED = "succeeded"  #: a valid reply was saved on the page
    ERRORED = "errored"  #: the provider or the reply validation failed it (costs an attempt)
    EXPIRED = "expired"  #: the batch ended before this request ran (no attempt charged)
    CANCELED = "canceled"  #: the batch was canceled before this request ran (no attempt charged)
    #: the job failed before this request had a result (no attempt charged); a job canceled
    #: before submission leaves its items ``canceled`` instead
    FAILED = "failed"


class Reading(StrEnum):
    """How an ended job reads in ``seobatch jobs``/``job``, the event data and the metrics
    where its status alone would mislead. Not a status: the seed's statuses stay, and a
    reading is derived from the status, the metadata and the counts (``reading()``)."""

    CANCELED = "canceled"  #: stopped by a cancel (``failed`` before submission, ``completed`` after)
    ALL_ERRORED = "all_errored"  #: ``completed``, but no item succeeded and some errored: nothing written
    RUNNING = "running"  #: (a run, ``seobatch runs``) one of its jobs is still active


#: Every job status, in pipeline order.
STATUSES: Final = tuple(JobStatus)
#: Statuses a job moves on from; the recovery sweep watches these.
ACTIVE_STATUSES: Final = (JobStatus.COLLECTING, JobStatus.SUBMITTING, JobStatus.PROCESSING)
#: Statuses a job never leaves.
TERMINAL_STATUSES: Final = (JobStatus.COMPLETED, JobStatus.FAILED)
#: Every item status.
ITEM_STATUSES: Final = tuple(ItemStatus)
#: What a provider's result can make of an item (``failed`` comes from the job, not a result).
ITEM_OUTCOMES: Final = (ItemStatus.SUCCEEDED, ItemStatus.ERRORED, ItemStatus.EXPIRED, ItemStatus.CANCELED)

# ── kickoff: who started the run and with which limits (inherited by split jobs) ──────
RUN: Final = "run"  #: the run's short random id, shared by the jobs of one split run
KICKED_OFF_AT: Final = "kicked_off_at"  #: stamp of the kickoff
KICKED_OFF_BY: Final = "kicked_off_by"  #: "cli", "cron", "clock", "demo" …
LIMIT: Final = "limit"  #: at most this many pages for the run (``--limit``), left for this job
MAX_COST: Final = "max_cost"  #: per-job spend ceiling in USD (``--max-cost``)
PROVIDER: Final = "provider"  #: "anthropic" | "gemini" | "openai" (kickoff and mark_submitted record it)
ERROR: Final = "error"  #: mark_failed's reason, secret-free
#: How the ``ERROR`` of a job an operator canceled before submission starts (``seobatch
#: cancel``; the web page adds who: "canceled by operator alice (web)").
CANCELED_REASON: Final = "canceled by operator"

# ── collect: where the page scan stands, and how a run is split into jobs ─────────────
CURSOR: Final = "cursor"  #: the last page id collected into this job
AFTER_PAGE_ID: Final = "after_page_id"  #: a split job starts after this page id
COLLECTED: Final = "collected"  #: items built so far
COLLECTED_BYTES: Final = "collected_bytes"  #: request bytes built so far (batch size limit)
COLLECTED_AT: Final = "collected_at"  #: stamp: collection finished
ESTIMATED_INPUT_TOKENS: Final = "estimated_input_tokens"  #: for the cost ceiling before submit
PREVIOUS_JOB_ID: Final = "previous_job_id"  #: the job this one continues (a split run)
NEXT_JOB_ID: Final = "next_job_id"  #: the job that continues this one (a split run)
PROMPT_VERSION: Final = "prompt_version"  #: the prompt template's version the items were built with
#: a split job holds at most this many items: one fewer than the job before it (distinct sizes)
MAX_ITEMS: Final = "max_items"

# ── submit: the rules that keep a batch from being paid for twice (stages/submit.py) ──
DISPLAY_NAME: Final = "display_name"  #: the batch's name at the provider; chosen once, reused by every attempt
SUBMIT_ATTEMPTS: Final = "submit_attempts"  #: how many submit attempts took the lease
#: stamp: the attempt holding the submit lease owns the create until then
SUBMIT_LEASE_UNTIL: Final = "submit_lease_until"
#: stamp of the first create sent (reconcile's search window starts here)
SUBMIT_STARTED_AT: Final = "submit_started_at"
SUBMIT_SENT_AT: Final = "submit_sent_at"  #: stamp of the latest create sent
SUBMIT_OUTCOME: Final = "submit_outcome"  #: "rejected" when the provider surely refused the latest create
SUBMIT_UNCLEAR: Final = "submit_unclear"  #: sticky: some create's reply was lost, so a batch may exist
#: the batch was adopted by a search after an unclear create, not from its create reply
RECONCILED: Final = "reconciled"
# ── reconcile: looking for a batch an unclear create may have made (stages/reconcile.py) ──
RECONCILE_AMBIGUOUS_SINCE: Final = "reconcile_ambiguous_since"  #: stamp: candidates first could not be told apart
RECONCILE_AMBIGUOUS_TRIES: Final = "reconcile_ambiguous_tries"  #: lookups that found it ambiguous
RECONCILE_CANDIDATES: Final = "reconcile_candidates"  #: the batch ids that might be this job's
RECONCILE_UNRESOLVED: Final = "reconcile_unresolved"  #: the job was failed with its search unresolved: manual review
ORPHAN_BATCH_ID: Final = "orphan_batch_id"  #: the latest batch found for this job after it had one
ORPHAN_BATCH_IDS: Final = "orphan_batch_ids"  #: every such batch (canceled, never adopted twice)

# ── poll: the provider's view of the batch (stages/poll.py) ───────────────────────────
NEXT_POLL_AT: Final = "next_poll_at"  #: stamp: the one poll chain due then (compare-and-set collapses duplicates)
POLLS: Final = "polls"  #: polls made
POLLED_AT: Final = "polled_at"  #: stamp of the latest poll
PROVIDER_STATE: Final = "provider_state"  #: the provider's own status word for the batch
PROVIDER_COUNTS: Final = "provider_counts"  #: the provider's request counts (progress display)
ENDING: Final = "ending"  #: how the batch ended: "ended", "canceled", "expired" …
WATCHDOG_AT: Final = "watchdog_at"  #: stamp: the batch was first seen past its deadline
CANCEL_REQUESTED: Final = "cancel_requested"  #: stamp: a cancel was sent (operator or watchdog)
CANCEL_REQUESTED_BY: Final = "cancel_requested_by"  #: who sent it from the web page ("alice (web)"); None otherwise

# ── failover: moving a late batch's pages to the fallback model (stages/failover.py) ──
FAILOVER: Final = "failover"  #: poll's decision to fail over: reason, decided_at, to_model and its inputs
FAILOVER_JOB_ID: Final = "failover_job_id"  #: the job that took this job's pages without a result
FAILOVER_OF: Final = "failover_of"  #: this job collects only the pages of that job that have no result
#: stamp: the hand-over is done (the fallback job made, or nothing was left to move); until
#: then a completed job with a ``FAILOVER`` decision is the recovery sweep's to finish
FAILOVER_HANDED_OVER: Final = "failover_handed_over"

# ── results: what the saved results add up to (stages/results.py) ─────────────────────
RESULTS_SEEN: Final = "results_seen"  #: result lines saved so far (a restart resumes after them)
RESULTS_FINISHED_AT: Final = "results_finished_at"  #: stamp: every result saved
INPUT_TOKENS: Final = "input_tokens"  #: tokens billed in
OUTPUT_TOKENS: Final = "output_tokens"  #: tokens billed out
COST_USD: Final = "cost_usd"  #: the job's cost at batch prices, or "unknown" without a price
CANCELED_COUNT: Final = "canceled_count"  #: items the provider canceled before they ran
SITE_CHECKS: Final = "site_checks"  #: the site stage's findings: check → {"groups", "pages", "regenerate"}

# ── claims: which worker is on the job, until when (stages/claims.py, stages/recover.py) ──
CLAIM_STAGE: Final = "claim_stage"  #: the stage whose worker holds the job: "collect" | "submit" | "results"
#: who: the worker process as "<host>:<pid>", or "sweep@<host>:<pid>" for a stage the recovery sweep enqueued
CLAIM_BY: Final = "claim_by"
#: stamp: the claim's latest renewal (a chunk committed, a heartbeat, the sweep's hand-off)
CLAIM_AT: Final = "claim_at"
#: stamp: the claim runs out then unless renewed; past it the sweep takes the job over
CLAIM_UNTIL: Final = "claim_until"
RECOVERIES: Final = "recoveries"  #: stages the recovery sweep enqueued again for this job (each doubles its next wait)

#: Keys a split run's next job inherits from the job before it (a failover job takes all
#: but ``PROVIDER``: its model is another provider's).
INHERITED: Final = (RUN, MAX_COST, KICKED_OFF_BY, PROVIDER)
#: Keys ``seobatch job ID`` shows under "metadata", in this order.
HIGHLIGHTS: Final = (
    RUN, KICKED_OFF_BY, PROMPT_VERSION, DISPLAY_NAME, PROVIDER_STATE, ENDING,
    PROVIDER_COUNTS, POLLS, NEXT_POLL_AT, SUBMIT_ATTEMPTS, CANCELED_COUNT,
    PREVIOUS_JOB_ID, NEXT_JOB_ID, CLAIM_STAGE, CLAIM_BY, CLAIM_UNTIL, SUBMIT_LEASE_UNTIL, RECOVERIES,
    FAILOVER, FAILOVER_JOB_ID, FAILOVER_OF, FAILOVER_HANDED_OVER,
)


def reading(status: str, meta: dict | None, succeeded: int | None, errored: int | None) -> str:
    """The job's status, or the ``Reading`` that tells more: ``canceled`` when a cancel
    stopped it (its ``ERROR`` is ``CANCELED_REASON``, or ``CANCEL_REQUESTED`` is set),
    ``all_errored`` when it completed with errored items and not one success."""
    meta = meta or {}
    if status == JobStatus.FAILED and str(meta.get(ERROR) or "").startswith(CANCELED_REASON):
        return Reading.CANCELED
    if status == JobStatus.COMPLETED:
        if meta.get(CANCEL_REQUESTED):
            return Reading.CANCELED
        if not succeeded and errored:
            return Reading.ALL_ERRORED
    return str(status)
