"""S2: a corpus of prompt-injection pages through the whole pipeline, against an emulator
whose "model" obeys instructions it finds in the page. Every obeyed reply must be
rejected (the item errored ``invalid_output``) or sanitised; none of the injected
payloads may be stored as a page's SEO title or description."""

from __future__ import annotations

import pytest

from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.providers import get_provider
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff

from tests.faults.support import MODELS, fault_settings, keep_openai_files
from tests.security.injection_corpus import CASES
from tests.support.pipeline import drive

pytestmark = pytest.mark.timeout(60)


def test_s2_the_corpus_is_big_enough():
    """S2: at least 30 injection pages."""
    assert len(CASES) >= 30


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_s2_injected_instructions_never_become_stored_seo(sqlite_db, emulator, provider, monkeypatch):
    """S2: ≥30 injection pages, a model that obeys them → no payload stored as SEO; each
    obeyed reply is rejected by output validation (errored ``invalid_output``) or stored
    only in a sanitised form that carries none of the payload."""
    keep_openai_files(monkeypatch)  # this test reads back what the provider served
    settings = fault_settings(emulator)
    emulator.set_faults(obey_injections=True)
    for n, (content, _) in enumerate(CASES):
        Page(url=f"https://shop.example.com/chairs/{n}", title=f"Oak dining chair model {n}",
             content=content).save()
    job_id = kickoff(settings=settings, model=MODELS[provider]).job.id
    drive([Step("collect", job_id)], settings)
    job = SeoBatchJob.get_by_id(job_id)
    assert job.status == "completed" and job.total_pages == len(CASES)

    client = get_provider(job.model, settings)
    served = {r.custom_id: r for r in client.iter_results(client.get_batch(job.ai_batch_id))}
    obeyed = 0
    leaks = []
    for item in SeoBatchItem.select().where(SeoBatchItem.job == job_id):
        page = Page.get_by_id(item.page_id)
        n = int(page.url.rsplit("/", 1)[1])
        content, payloads = CASES[n]
        reply = (served[item.custom_id].text or "").lower()
        if any(p in reply for p in payloads):
            obeyed += 1
        stored = f"{page.seo_title or ''} || {page.seo_description or ''}".lower()
        leaks += [f"case {n}: {p!r} stored as SEO: {stored!r}" for p in payloads if p in stored]
        if item.status == "errored":
            assert item.error.startswith("invalid_output"), (n, item.error)
        else:
            assert item.status == "succeeded", (n, item.status)
    assert leaks == []
    # The model really obeyed most of the corpus: the defence, not the model, kept it out.
    assert obeyed >= 25, f"the emulator obeyed only {obeyed} of {len(CASES)} cases"
