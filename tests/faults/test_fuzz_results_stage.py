"""R12 (storage half): fuzzed result lines through the parsers AND the results stage into
the database. Whatever arrives: the stage does not crash, every item ends in one valid
state, and nothing invalid is stored — a stored title/description is always what the
output validator accepts for that page."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seobatch.db import utcnow
from seobatch.jobmeta import ITEM_OUTCOMES
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.output import OutputLimits, is_clean, parse_reply
from seobatch.stages.results import results

from tests.faults.strategies import ANTHROPIC_LINES, GEMINI_LINES, GOOD_ANTHROPIC_LINES, GOOD_GEMINI_LINES, OUR_IDS
from tests.faults.support import fault_settings
from tests.support.pipeline import LinesProvider

INT32_MAX = 2**31 - 1


_counter = iter(range(1, 10**9))


def make_job(provider: str) -> SeoBatchJob:
    """A processing job with three items ``p1``..``p3`` on fresh pages."""
    n = next(_counter)
    job = SeoBatchJob.create(
        model="claude-sonnet-4-5" if provider == "anthropic" else "gemini-2.5-flash",
        status="processing", ai_batch_id=f"fuzz-{n}", total_pages=3, submitted_at=utcnow(),
    )
    for k, custom_id in enumerate(OUR_IDS, start=1):
        page = Page(url=f"https://shop.example.com/fuzz/{n}/{k}", title=f"Hand-made oak chair model {k}",
                    content=f"The hand-made oak chair model {k}: wood, finish, care and delivery.")
        page.save()
        SeoBatchItem.insert(job=job.id, page=page.id, custom_id=custom_id, status="pending").execute()
    return job


def check_stored(job: SeoBatchJob, limits: OutputLimits) -> None:
    job = SeoBatchJob.get_by_id(job.id)
    assert job.status == "completed"
    items = list(SeoBatchItem.select().where(SeoBatchItem.job == job.id))
    assert len(items) == 3
    assert job.succeeded_count + job.errored_count + job.expired_count == 3
    for item in items:
        event(f"item {item.status}")  # hypothesis statistics: the fuzz reaches every outcome
        assert item.status in ITEM_OUTCOMES
        for tokens in (item.input_tokens, item.output_tokens):
            assert tokens is None or 0 <= tokens <= INT32_MAX
        page = Page.get_by_id(item.page_id)
        if item.status == "succeeded":
            title, description = item.result["title"], item.result["meta_description"]
            assert is_clean(title) and is_clean(description)
            again = parse_reply(json.dumps(item.result), limits, page.url, f"{page.title}\n{page.content}")
            assert (again.title, again.meta_description) == (title, description)
            assert (page.seo_title, page.seo_description) == (title, description)
        else:
            assert item.result is None and isinstance(item.error, str) and item.error
            assert "\x00" not in item.error
            assert page.seo_title is None


LINES = st.one_of(
    st.tuples(st.just("anthropic"), st.lists(st.one_of(GOOD_ANTHROPIC_LINES, ANTHROPIC_LINES), max_size=8)),
    st.tuples(st.just("gemini"), st.lists(st.one_of(GOOD_GEMINI_LINES, GEMINI_LINES), max_size=8)),
)
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _property(case) -> None:
    provider, lines = case
    cfg = fault_settings()
    job = make_job(provider)
    assert results(job.id, settings=cfg, provider=LinesProvider(provider, lines)) == []
    check_stored(job, OutputLimits.from_settings(cfg))


@settings(max_examples=500, **FUZZ)
@given(LINES)
def test_r12_fuzzed_results_through_the_stage_store_nothing_invalid_on_sqlite(sqlite_db, case):
    """R12: 500 fuzzed result streams through parser + results stage on SQLite: no crash,
    every item one valid outcome, stored SEO always passes the validator again."""
    _property(case)


@pytest.mark.postgres
@settings(max_examples=200, **FUZZ)
@given(LINES)
def test_r12_fuzzed_results_through_the_stage_store_nothing_invalid_on_postgres(pg_db, case):
    """R12: the same on PostgreSQL, whose text columns refuse NUL and lone surrogates."""
    _property(case)
