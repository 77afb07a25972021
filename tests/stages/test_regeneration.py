"""Regeneration rules: what makes a page need SEO again, for the nightly model and a trial."""

from __future__ import annotations

import json

from seobatch import db, pages
from seobatch.models import Page
from seobatch.prompts import PromptTemplate
from seobatch.stages.kickoff import kickoff
from seobatch.stages.plan import plan_run

from tests.support.pages import make_pages
from tests.support.pipeline import drive, items_of

NIGHTLY = "claude-sonnet-4-5"
TRIAL = "claude-haiku-4-5"


def _mark_done(settings, model=NIGHTLY):
    """Every page as if a night of ``model`` generated its SEO from what it is now."""
    version = PromptTemplate.load(settings).version
    for p in Page.select():
        Page.update(
            seo_title="Old title of the page", seo_description="d" * 60, seo_model=model,
            seo_generated_at=db.utcnow(), seo_content_hash=p.content_hash, seo_prompt_version=version,
        ).where(Page.id == p.id).execute()


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_a_changed_language_regenerates_the_page(any_db, settings, tmp_path):
    rows = [{"url": f"https://e.example.com/{i}", "title": f"T{i}", "content": "text", "language": "en"}
            for i in range(3)]
    pages.import_pages(_write(tmp_path / "1.jsonl", rows))
    _mark_done(settings)
    assert plan_run(settings=settings).pages == 0
    rows[1]["language"] = "de"
    assert pages.import_pages(_write(tmp_path / "2.jsonl", rows)).describe() == (
        "imported 0 new, updated 1, unchanged 2, rejected 0"
    )
    assert plan_run(settings=settings).pages == 1


def test_any_attribute_the_prompt_can_show_changes_the_hash_and_none_keeps_the_old_one():
    legacy = Page.hash_content("T", "c")
    assert Page.hash_content("T", "c", {}) == legacy  # pages without attributes: hash as before
    assert Page.hash_content("T", "c", {"language": "en"}) != Page.hash_content("T", "c", {"language": "de"})
    assert Page.hash_content("T", "c", {"sku": "A1"}) != Page.hash_content("T", "c", {"sku": "A2"})
    # An attribute the prompt never shows (a nested value) does not regenerate the page.
    assert Page.hash_content("T", "c", {"tags": ["a"]}) == Page.hash_content("T", "c", {"tags": ["b"]})


def test_pages_hashed_by_an_earlier_release_stay_done_until_they_change(any_db, settings, tmp_path):
    rows = [{"url": f"https://e.example.com/{i}", "title": f"T{i}", "content": "text", "language": "en"}
            for i in range(3)]
    pages.import_pages(_write(tmp_path / "1.jsonl", rows))
    # Given hashes as the previous release stored them (title and content only), SEO current
    for p in Page.select():
        Page.update(content_hash=Page.hash_content(p.title, p.content)).where(Page.id == p.id).execute()
    _mark_done(settings)
    # When the same file is imported after the upgrade, nothing is regenerated
    assert pages.import_pages(_write(tmp_path / "2.jsonl", rows)).describe() == (
        "imported 0 new, updated 0, unchanged 3, rejected 0"
    )
    assert plan_run(settings=settings).pages == 0
    # And a real change of the language still is
    rows[0]["language"] = "fr"
    pages.import_pages(_write(tmp_path / "3.jsonl", rows))
    assert plan_run(settings=settings).pages == 1


def test_trials_of_another_model_move_on_and_the_night_redoes_only_what_they_overwrote(any_db, settings):
    make_pages(10)
    _mark_done(settings)
    assert plan_run(settings=settings).pages == 0
    # A trial of another model takes the first 4 pages
    first = kickoff(settings=settings, model=TRIAL, limit=4)
    drive(first.steps, settings)
    tried = [i.page_id for i in items_of(first.job.id)]
    assert len(tried) == 4
    # The nightly model redoes only the pages whose live SEO the trial replaced, and says so
    overwritten = Page.select().where(Page.seo_model == TRIAL).count()
    plan = plan_run(settings=settings)
    assert plan.pages == overwritten <= 4
    assert any(f"{overwritten} pages have SEO from another model" in note for note in plan.notes)
    # When the live SEO is left as it was (as with revisions: a trial's output stays proposed),
    _mark_done(settings)
    # the night has nothing to redo, and a second trial takes the next 4, not the same ones again
    assert plan_run(settings=settings).pages == 0
    second = kickoff(settings=settings, model=TRIAL, limit=4)
    drive(second.steps, settings)
    again = [i.page_id for i in items_of(second.job.id)]
    assert len(again) == 4 and not set(again) & set(tried)
    # And the trial has only the 2 pages it has not done left
    assert plan_run(settings=settings, model=TRIAL).pages == 2
