"""The job model of the seed (``SeoBatchJob``), its items, the site's pages, the event outbox.

Status changes are compare-and-set updates (``UPDATE … WHERE id = ? AND status IN (…)``):
the caller learns whether it won, and a repeated or late message changes nothing.
The ``mark_*`` methods record their lifecycle event in the same transaction; it is
delivered to subscribers once that transaction commits (see ``seobatch.outbox``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from typing import Any

import peewee
from peewee import SQL

from . import db as _db
from . import jobmeta as jm
from .config import DEFAULT_MODEL, PROVIDERS
from .db import JSONField, StringField, database, utcnow
from .errors import ValidationError
from .jobmeta import ACTIVE_STATUSES, ITEM_STATUSES, STATUSES, ItemStatus, JobStatus
from .page_inputs import prompt_inputs
from .routing import accepted_models, provider_for_model

log = logging.getLogger("seobatch.jobs")

#: Valid for both providers: Anthropic's custom_id pattern, Gemini's free-form key.
CUSTOM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: ``SeoBatchItem.custom_id_for``'s shape: the job id, then the page id.
_JOB_CUSTOM_ID_RE = re.compile(r"^j([0-9]{1,19})p[0-9]{1,19}$")


def _str_default(value: str) -> StringField:
    # Rails' ``string default("…")``; DDL takes no parameters, and ``value`` is always
    # one of our constants (DEFAULT_MODEL, a status), never input.
    return StringField(default=value, constraints=[SQL(f"DEFAULT '{value}'")])  # sql-constant: our constants only


def _int_default(**kwargs: Any) -> peewee.IntegerField:
    # Rails' ``integer default(0)``: nullable, with the default in the database too.
    return peewee.IntegerField(null=True, default=0, constraints=[SQL("DEFAULT 0")], **kwargs)


class BaseModel(peewee.Model):
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database

    def validate(self) -> None:
        """Raise ValidationError when the row breaks the model's contract."""

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.validate()
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


class Page(BaseModel):
    """A page of the site that needs an SEO title and meta description."""

    id = peewee.BigAutoField()
    url = peewee.TextField(unique=True)
    title = peewee.TextField(null=True)
    #: The page's main heading: the import's ``h1`` column, else the first <h1> of HTML content.
    h1 = peewee.TextField(null=True)
    content = peewee.TextField(default="")
    #: Other columns of the import file (language, section, …), kept for prompts and export.
    attributes = JSONField(null=True)
    content_hash = StringField()
    seo_title = peewee.TextField(null=True)
    seo_description = peewee.TextField(null=True)
    seo_model = StringField(null=True)
    seo_generated_at = peewee.DateTimeField(null=True)
    #: The content hash and prompt version the SEO fields were generated from.
    seo_content_hash = StringField(null=True)
    seo_prompt_version = StringField(null=True)
    #: Failed nights since the last success; a page past the limit is left alone.
    seo_attempts = peewee.IntegerField(default=0)
    seo_last_error = peewee.TextField(null=True)
    #: Edited by hand (import column ``seo_locked=true``): seobatch never publishes over it.
    seo_locked = peewee.BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    #: Fingerprints of the published SEO (``quality.fingerprint``), written with it: the
    #: site stage and ``seobatch audit`` find duplicates with one GROUP BY over them.
    #: ``seo_site`` is the page's host and language ("shop.example/de").
    seo_site = peewee.TextField(null=True)
    seo_title_key = peewee.BigIntegerField(null=True)
    seo_description_key = peewee.BigIntegerField(null=True)
    #: The title with numbers and the page's own words (its H1 or title) masked: one
    #: template over many pages shares it.
    seo_skeleton_key = peewee.BigIntegerField(null=True)
    #: The page's H1 (else its imported title): a title equal to another page's is S5.
    seo_h1_key = peewee.BigIntegerField(null=True)
    #: Set by the site stage: what the next prompt must avoid (another page's title or
    #: description, one a line); the page is collected again while it is set.
    seo_avoid = peewee.TextField(null=True)

    class Meta:
        table_name = "seo_pages"
        indexes = (
            (("seo_site", "seo_title_key"), False),
            (("seo_site", "seo_description_key"), False),
            (("seo_site", "seo_skeleton_key"), False),
            (("seo_site", "seo_h1_key"), False),
        )

    @staticmethod
    def hash_content(
        title: str | None, content: str | None, attributes: dict[str, Any] | None = None
    ) -> str:
        """The hash that tells the collector a page changed since its SEO was made: its
        title, content and the attributes a prompt uses (``page_inputs.prompt_inputs``). A page
        without such attributes keeps the title-and-content hash of earlier releases."""
        digest = hashlib.sha256()
        digest.update((title or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
        digest.update((content or "").encode("utf-8", "surrogatepass"))
        extra = prompt_inputs(attributes)
        if extra:
            digest.update(b"\x00\x00")
            digest.update(extra.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.content_hash = self.hash_content(self.title, self.content, self.attributes)
        return super().save(*args, **kwargs)


class SeoBatchJob(BaseModel):
    """One provider batch: collecting → submitting → processing → completed, or failed."""

    STATUSES = STATUSES

    id = peewee.BigAutoField()
    completed_at = peewee.DateTimeField(null=True)
    errored_count = _int_default()
    expired_count = _int_default()
    metadata = JSONField(null=True, default=dict)
    model = _str_default(DEFAULT_MODEL)
    status = _str_default(JobStatus.COLLECTING)
    submitted_at = peewee.DateTimeField(null=True)
    succeeded_count = _int_default()
    total_pages = _int_default()
    ai_batch_id = StringField(null=True)

    class Meta:
        table_name = "seo_batch_jobs"

    # -- validation --------------------------------------------------------------------

    def validate(self) -> None:
        if not (self.model or "").strip():
            raise ValidationError("model can't be blank")
        if self.status not in STATUSES:
            raise ValidationError(
                f"status {self.status!r} is not one of {', '.join(STATUSES)}"
            )
        # A compatible endpoint's model routes by the settings: its kickoff recorded the provider.
        if provider_for_model(self.model) is None and (self.metadata or {}).get(jm.PROVIDER) not in PROVIDERS:
            raise ValidationError(
                f"unknown model {self.model!r}: seobatch routes {accepted_models()}"
            )

    # -- scopes --------------------------------------------------------------------------

    @classmethod
    def active(cls) -> peewee.ModelSelect[SeoBatchJob]:
        return cls.select().where(cls.status.in_(ACTIVE_STATUSES))

    @classmethod
    def completed(cls) -> peewee.ModelSelect[SeoBatchJob]:
        return cls.select().where(cls.status == JobStatus.COMPLETED)

    # -- predicates ----------------------------------------------------------------------

    @property
    def is_collecting(self) -> bool:
        return self.status == JobStatus.COLLECTING

    @property
    def is_submitting(self) -> bool:
        return self.status == JobStatus.SUBMITTING

    @property
    def is_processing(self) -> bool:
        return self.status == JobStatus.PROCESSING

    @property
    def is_completed(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status == JobStatus.FAILED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_anthropic(self) -> bool:
        return (self.model or "").startswith("claude-")

    @property
    def is_gemini(self) -> bool:
        return (self.model or "").startswith("gemini-")

    @property
    def is_openai(self) -> bool:
        return self.provider == "openai"

    @property
    def inferred_provider(self) -> str | None:
        return provider_for_model(self.model)

    @property
    def provider(self) -> str | None:
        """The provider recorded at submission, else the one the model routes to."""
        return (self.metadata or {}).get(jm.PROVIDER) or self.inferred_provider

    @property
    def provider_batch_id(self) -> str | None:
        return self.ai_batch_id

    # -- transitions (compare-and-set) ------------------------------------------------------

    def transition(
        self,
        to: str,
        *,
        expected: Iterable[str],
        metadata: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move this job to ``to`` if its row is still in one of ``expected``.

        ``metadata`` is merged into the stored metadata, not replacing it. Returns True
        when this call made the change, False when the row had moved on (or is gone).
        On success the instance reflects the new row.
        """
        expected = tuple(expected)
        if to not in STATUSES:
            raise ValidationError(f"status {to!r} is not one of {', '.join(STATUSES)}")
        cls = type(self)
        values: dict[str, Any] = {"status": to, "updated_at": utcnow(), **fields}
        with _db.write_transaction():
            if metadata is not None:
                row = _db.lock_for_update(
                    cls.select(cls.status, cls.metadata).where(cls.id == self.id)
                ).first()
                if row is None or row.status not in expected:
                    return False
                values["metadata"] = {**(row.metadata or {}), **metadata}
            changed = (
                cls.update({cls._meta.fields[k]: v for k, v in values.items()})
                .where((cls.id == self.id) & (cls.status.in_(expected)))
                .execute()
            )
            if changed != 1:
                return False
            before = self.status
            for key, value in values.items():
                setattr(self, key, value)
            _db.after_commit(lambda: self._log_transition(before))
        return True

    def _log_transition(self, before: str) -> None:
        # One line per transition, key=value so people and machines can both read it.
        log.info(
            "job_transition job_id=%s from=%s to=%s model=%s provider_batch_id=%s "
            "total=%s succeeded=%s errored=%s expired=%s",
            self.id, before, self.status, self.model, self.ai_batch_id or "-",
            self.total_pages, self.succeeded_count, self.errored_count, self.expired_count,
        )

    def mark_submitted(
        self,
        provider_batch_id: str,
        provider: str | None = None,
        extra_metadata: dict[str, Any] | None = None,
        *,
        expected: Iterable[str] = (JobStatus.SUBMITTING,),
    ) -> bool:
        """The provider accepted the batch: record its id, now ``processing``."""
        merged = {jm.PROVIDER: provider or self.inferred_provider, **(extra_metadata or {})}
        with _db.write_transaction():
            total = SeoBatchItem.select().where(SeoBatchItem.job == self.id).count()
            won = self.transition(
                JobStatus.PROCESSING,
                expected=expected,
                metadata=merged,
                ai_batch_id=provider_batch_id,
                submitted_at=utcnow(),
                total_pages=total,
            )
            if won:
                _record_event(self, "job_submitted")
        return won

    def mark_completed(
        self,
        succeeded: int = 0,
        errored: int = 0,
        expired: int = 0,
        *,
        expected: Iterable[str] = (JobStatus.PROCESSING,),
        extra_metadata: dict[str, Any] | None = None,
    ) -> bool:
        """The batch's results are saved: record the counts, now ``completed``."""
        with _db.write_transaction():
            won = self.transition(
                JobStatus.COMPLETED,
                expected=expected,
                metadata=extra_metadata,
                succeeded_count=succeeded,
                errored_count=errored,
                expired_count=expired,
                completed_at=utcnow(),
            )
            if won:
                _record_event(self, "job_completed")
        return won

    def mark_failed(
        self, error_message: str, *, expected: Iterable[str] = ACTIVE_STATUSES
    ) -> bool:
        """The job cannot go on: keep the reason in ``metadata['error']``, now ``failed``."""
        with _db.write_transaction():
            won = self.transition(
                JobStatus.FAILED,
                expected=expected,
                metadata={jm.ERROR: str(error_message)},
                completed_at=utcnow(),
            )
            if won:
                _record_event(self, "job_failed", error=str(error_message))
        return won

    def event_payload(self) -> dict[str, Any]:
        """What subscribers receive as keyword data (DESIGN.md's event contract)."""
        meta = self.metadata or {}
        canceled = int(meta.get(jm.CANCELED_COUNT) or 0)
        return {
            "job_id": self.id,
            "model": self.model,
            "provider": self.provider,
            "provider_batch_id": self.ai_batch_id,
            "status": self.status,
            "total_pages": self.total_pages,
            "succeeded_count": self.succeeded_count,
            "errored_count": self.errored_count,
            # The row's expired_count includes the canceled items (the seed has no column
            # for them); the data counts each apart, so the four counts add up to the pages.
            "expired_count": (self.expired_count or 0) - canceled,
            "canceled_count": canceled,
            "cost_usd": meta.get(jm.COST_USD),
            #: The status, or "canceled" / "all_errored" (jobmeta.reading): what to alert on.
            "outcome": jm.reading(self.status, meta, self.succeeded_count, self.errored_count),
        }


class SeoBatchItem(BaseModel):
    """One page in one job: the request sent, and what came back."""

    STATUSES = ITEM_STATUSES

    id = peewee.BigAutoField()
    job = peewee.ForeignKeyField(
        SeoBatchJob, backref="items", on_delete="CASCADE", column_name="job_id"
    )
    page = peewee.ForeignKeyField(
        Page, backref="items", on_delete="CASCADE", column_name="page_id"
    )
    custom_id = StringField()
    status = _str_default(ItemStatus.PENDING)
    #: The provider request body for this page (Anthropic ``params`` / Gemini ``request``).
    request = JSONField(null=True)
    #: The validated, sanitised reply: {"title": …, "meta_description": …}.
    result = JSONField(null=True)
    #: The quality gate's verdict on the reply (``Verdict.to_dict()``: action, checks,
    #: repairs, widths, language); None when the reply never reached the gate.
    verdict = JSONField(null=True)
    error = peewee.TextField(null=True)
    input_tokens = peewee.IntegerField(null=True)
    output_tokens = peewee.IntegerField(null=True)
    completed_at = peewee.DateTimeField(null=True)
    #: What the request was built from: the page's content hash and the prompt version.
    #: A success stores these on the page, so a page edited while its batch ran is
    #: collected again the next night.
    content_hash = StringField(null=True)
    prompt_version = StringField(null=True)

    class Meta:
        table_name = "seo_batch_items"
        indexes = (
            (("job", "custom_id"), True),
            (("page", "status"), False),
            (("job", "status"), False),
        )

    def validate(self) -> None:
        if not CUSTOM_ID_RE.match(self.custom_id or ""):
            raise ValidationError(
                f"custom_id {self.custom_id!r} must be 1-64 letters, digits, '_' or '-'"
            )
        if self.status not in ITEM_STATUSES:
            raise ValidationError(
                f"item status {self.status!r} is not one of {', '.join(ITEM_STATUSES)}"
            )

    @classmethod
    def counts_by_job(cls, job_ids: Iterable[int]) -> dict[int, dict[str, tuple[int, int, int]]]:
        """job id → status → (items, input tokens, output tokens): one GROUP BY."""
        query = (
            cls.select(
                cls.job,
                cls.status,
                peewee.fn.COUNT(cls.id),
                peewee.fn.COALESCE(peewee.fn.SUM(cls.input_tokens), 0),
                peewee.fn.COALESCE(peewee.fn.SUM(cls.output_tokens), 0),
            )
            .where(cls.job.in_(list(job_ids)))
            .group_by(cls.job, cls.status)
            .tuples()
        )
        counts: dict[int, dict[str, tuple[int, int, int]]] = {}
        for job_id, status, n, tokens_in, tokens_out in _db.tuples(query):
            counts.setdefault(job_id, {})[status] = (int(n), int(tokens_in), int(tokens_out))
        return counts

    @classmethod
    def counts_for(cls, job_id: int) -> dict[str, tuple[int, int, int]]:
        """status → (items, input tokens, output tokens) of one job, counted by the database."""
        return cls.counts_by_job([job_id]).get(job_id, {})

    @staticmethod
    def custom_id_for(page_id: int, job_id: int) -> str:
        """The custom_id of a page's item: ``j<job>p<page>``.

        Unique across jobs, so the results stage can tell another job's batch (a wrong
        reconciliation) from ours. At most 40 characters of ``[a-z0-9]``: valid for both
        providers (Anthropic: 1-64 of ``[A-Za-z0-9_-]``).
        """
        return f"j{int(job_id)}p{int(page_id)}"

    @staticmethod
    def job_of_custom_id(custom_id: str) -> int | None:
        """The job id inside a ``custom_id_for`` id, or None for any other shape."""
        match = _JOB_CUSTOM_ID_RE.match(custom_id) if isinstance(custom_id, str) else None
        return int(match.group(1)) if match else None


class SeoBatchEvent(peewee.Model):
    """The outbox: a lifecycle event written with the transition that caused it."""

    id = peewee.BigAutoField()
    job = peewee.ForeignKeyField(
        SeoBatchJob, backref="events", on_delete="CASCADE", column_name="job_id"
    )
    job_id: int  # peewee's accessor for the job's id (no query); declared for the type checker
    name = StringField()
    payload = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)
    #: A delivery's lease: until then no other delivery claims the row.
    claimed_until = peewee.DateTimeField(null=True)
    #: Set once every receiver returned; a row without it is delivered by the sweep.
    published_at = peewee.DateTimeField(null=True)
    #: Deliveries claimed so far (one that died counts too).
    attempts = peewee.IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    #: The receivers (``module.qualname``) that returned; a retry skips them.
    delivered_to = JSONField(null=True)
    #: Which receivers raised on the latest delivery, and their redacted errors.
    last_error = peewee.TextField(null=True)
    #: A receiver raised: the sweep retries the row from then on (backoff).
    next_attempt_at = peewee.DateTimeField(null=True)
    #: Set when the last allowed delivery failed; the row is not retried any more.
    failed_at = peewee.DateTimeField(null=True)

    class Meta:
        database = database
        table_name = "seo_batch_events"


#: The job lifecycle events: one row per transition, a job is submitted, completed or
#: failed once. Page events (``pages_published``, ``pages_rolled_back``) may repeat per job.
JOB_EVENTS = ("job_submitted", "job_completed", "job_failed")
SeoBatchEvent.add_index(
    SeoBatchEvent.index(SeoBatchEvent.job, SeoBatchEvent.name, unique=True,
                        name="seo_batch_events_one_per_transition")
    .where(SeoBatchEvent.name.in_(JOB_EVENTS))
)


class PageRevision(peewee.Model):
    """One value a page's SEO fields had or may have: the page's original, every generated
    reply, each with its state (``seobatch.revisions`` owns the states and moves them)."""

    id = peewee.BigAutoField()
    # The composite indexes below start with these columns: no index of their own.
    page = peewee.ForeignKeyField(Page, on_delete="CASCADE", column_name="page_id", index=False)
    page_id: int
    #: The job and item that generated it (None for a page's original).
    job = peewee.ForeignKeyField(SeoBatchJob, null=True, on_delete="SET NULL", column_name="job_id",
                                 index=False)
    job_id: int | None
    item_id = peewee.BigIntegerField(null=True)
    title = peewee.TextField(null=True)
    description = peewee.TextField(null=True)
    state = StringField()
    #: ``original`` (the import's title, before seobatch) or ``generated``.
    source = StringField()
    model = StringField(null=True)
    prompt_version = StringField(null=True)
    #: The quality gate's findings and repairs (JSON lists), and widths in pixels; None before the gate.
    checks = JSONField(null=True)
    repairs = JSONField(null=True)
    title_px = peewee.FloatField(null=True)
    description_px = peewee.FloatField(null=True)
    #: The gate flagged it (published under ``auto``, held for review under ``flagged``).
    flagged = peewee.BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    #: Why it was not published at once (``revisions.states.Reason``), None when it was.
    reason = StringField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    decided_at = peewee.DateTimeField(null=True)
    decided_by = StringField(null=True)
    published_at = peewee.DateTimeField(null=True)
    #: The revision that was published when this one was stored or published (a rollback's target).
    #: A plain id, not a foreign key: deleting a page's revisions must not scan for referrers.
    replaces_id = peewee.BigIntegerField(null=True)
    #: The change (a results stage, an approval, a rollback) that last published or rolled it
    #: back: subscribers read a change's pages by it, a chunk at a time.
    change_id = StringField(null=True)

    class Meta:
        database = database
        table_name = "seo_page_revisions"
        indexes = (
            (("page", "id"), False),
            (("job", "state", "id"), False),
            (("change_id", "page"), False),
        )


# At most one published revision per page, enforced by both databases.
PageRevision.add_index(
    PageRevision.index(PageRevision.page, unique=True, name="seo_page_revisions_one_published")
    .where(PageRevision.state == "published")
)
# The review queue's keyset (state, id): a million proposals, any first page in milliseconds.
PageRevision.add_index(
    PageRevision.index(PageRevision.state, PageRevision.id, name="seo_page_revisions_state_id")
)
# The review queue's own keyset: the proposals alone, by id. With only (state, id), PostgreSQL
# walked the primary key past every older (decided) revision: 320-480 ms for the first page
# at 1M proposals after 1M originals; with it, under a millisecond (scripts/bench/review_queue.py).
PageRevision.add_index(
    PageRevision.index(PageRevision.id, name="seo_page_revisions_proposed").where(PageRevision.state == "proposed")
)

SeoBatchJob.add_index(
    SeoBatchJob.index(
        SeoBatchJob.ai_batch_id, unique=True, name="index_seo_batch_jobs_on_ai_batch_id"
    )
)
SeoBatchJob.add_index(
    SeoBatchJob.index(SeoBatchJob.status, name="index_seo_batch_jobs_on_status")
)

MODELS = (Page, SeoBatchJob, SeoBatchItem, SeoBatchEvent, PageRevision)


def _record_event(job: SeoBatchJob, name: str, **extra: Any) -> None:
    from . import outbox  # the one lazy edge: outbox imports models (mark_* stays on the model)

    outbox.record(job, name, **extra)
