"""The plan of a run without running it (``seobatch run --dry-run``): read-only.

It walks the same eligible pages the collector would take and builds the same requests,
so its page count, job split and token estimate are what a real run would do tonight;
nothing is written and nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import jobmeta as jm
from ..models import Page, SeoBatchJob
from ._common import batch_limits
from .kickoff import check_run
from .selection import RequestBuilder, eligible_pages, iter_pages

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptTemplate
    from ..providers.base import BatchProvider


@dataclass
class Plan:
    model: str
    provider: str
    prompt_version: str
    pages: int = 0
    jobs: int = 0
    request_bytes: int = 0
    input_tokens: int = 0
    #: Upper bound: every reply at ``max_output_tokens``.
    output_tokens: int = 0
    #: USD at batch prices for that upper bound, None when the model has no price.
    cost: float | None = None
    #: Pages the run skips because they failed ``max_attempts`` nights (``seobatch pages failed``).
    left_alone: int = 0
    max_attempts: int = 0
    #: Upper-bound cost of the largest job (``--max-cost`` is checked per job), None unpriced.
    largest_job_cost: float | None = None
    #: Why the workers may plan otherwise than this process (``notes_on_settings``).
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        cost = f"at most ${self.cost:.4f}" if self.cost is not None else "unknown (no price for this model)"
        return [
            f"model:           {self.model} ({self.provider} batch API)",
            f"prompt version:  {self.prompt_version}",
            f"pages to do:     {self.pages}",
            f"jobs (batches):  {self.jobs}",
            f"request size:    {self.request_bytes / 1e6:.1f} MB",
            f"input tokens:    ~{self.input_tokens}",
            f"output tokens:   at most {self.output_tokens}",
            f"estimated cost:  {cost} at batch prices",
            *([(f"left alone:      {self.left_alone} page{'s' if self.left_alone != 1 else ''} failed "
                f"{self.max_attempts} nights in a row (`seobatch pages failed`, `seobatch pages reset`)")]
              if self.left_alone else []),
            *(f"note:            {note}" for note in self.notes),
            "dry run: nothing was written and nothing was sent",
        ]


def plan_run(
    *,
    settings: Settings,
    model: str | None = None,
    limit: int | None = None,
    max_cost: float | None = None,
    provider: BatchProvider | None = None,
    template: PromptTemplate | None = None,
) -> Plan:
    """What ``seobatch run`` would collect, split and spend."""
    from ..pricing import batch_cost
    from ..providers import get_provider

    model = check_run(settings, model)
    provider = provider or get_provider(model, settings)
    if template is None:
        from ..prompts import PromptTemplate

        template = PromptTemplate.load(settings)
    builder = RequestBuilder(provider=provider, template=template, model=model, settings=settings)
    limits = batch_limits(provider.name, settings, model)
    query = eligible_pages(model=model, prompt_version=template.version, max_attempts=settings.max_attempts,
                           configured_model=settings.model)
    from ..attempts import count_failed  # lazy, as the imports above

    plan = Plan(model=model, provider=provider.name, prompt_version=template.version,
                left_alone=count_failed(settings.max_attempts), max_attempts=settings.max_attempts)
    in_job, job_bytes = 0, 0
    per_job: list[list[int]] = []  # [pages, input tokens] of each job: a few, however many pages
    for row in iter_pages(query, chunk_size=settings.chunk_size):
        if limit is not None and plan.pages >= limit:
            break
        built = builder.build(row)
        if in_job == 0 or in_job >= limits.max_requests or job_bytes + built.size > limits.max_bytes:
            plan.jobs += 1
            in_job, job_bytes = 0, 0
            per_job.append([0, 0])
        in_job += 1
        job_bytes += built.size
        per_job[-1][0] += 1
        per_job[-1][1] += built.input_tokens
        plan.pages += 1
        plan.request_bytes += built.size
        plan.input_tokens += built.input_tokens
    plan.output_tokens = plan.pages * settings.max_output_tokens
    plan.cost = batch_cost(model, plan.input_tokens, plan.output_tokens, settings)
    costs = [batch_cost(model, tokens, pages * settings.max_output_tokens, settings) for pages, tokens in per_job]
    plan.largest_job_cost = max((c for c in costs if c is not None), default=None)
    plan.notes = notes_on_settings(plan, settings, max_cost=max_cost)
    return plan


def notes_on_settings(plan: Plan, settings: Settings, *, max_cost: float | None = None) -> list[str]:
    """What would make the real run differ from this plan: the plan uses this process's
    settings, the workers use theirs (README: the same environment everywhere)."""
    notes = []
    cap = max_cost if max_cost is not None else settings.max_cost
    if cap is not None and plan.pages:
        if plan.largest_job_cost is None:
            notes.append(f"no price is known for {plan.model}: the max cost of ${cap:.2f} cannot be checked "
                         "and the jobs would fail before sending")
        elif plan.largest_job_cost > cap:
            notes.append(f"a job's estimate (at most ${plan.largest_job_cost:.4f}) is above the max cost of "
                         f"${cap:.2f}: that job would fail before sending")
    last = (SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.metadata)
            .where(SeoBatchJob.model == plan.model).order_by(SeoBatchJob.id.desc()).first())
    version = (last.metadata or {}).get(jm.PROMPT_VERSION) if last else None
    if version and version != plan.prompt_version:
        notes.append(f"job {last.id} of {plan.model} was built with prompt version {version}, this plan "
                     f"with {plan.prompt_version}: if the workers' SEOBATCH_PROMPT_FILE or length limits "
                     "differ from this shell's, they will plan otherwise")
    if plan.model == settings.model:
        other = Page.select().where(Page.seo_model.is_null(False) & (Page.seo_model != plan.model)).count()
        if other:
            notes.append(f"{other} page{'s' if other != 1 else ''} have SEO from another model (a trial, or "
                         f"an earlier SEOBATCH_MODEL): {plan.model} regenerates them")
    if settings.batch_max_requests or settings.batch_max_bytes:
        notes.append("SEOBATCH_BATCH_MAX_REQUESTS/BYTES are set here: the job split is the workers' "
                     "if their environment differs")
    return notes
