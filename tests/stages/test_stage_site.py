"""The site stage on its own: duplicate groups sent back once, with every line, idempotent."""

from __future__ import annotations

from datetime import timedelta

from seobatch.db import utcnow
from seobatch.jobmeta import JobStatus
from seobatch.models import Page, SeoBatchJob
from seobatch.stages.site import check_site

from tests.support.pipeline import make_settings

SITE = "shop.example/en"


def _page(n: int, title_key: int, desc_key: int, *, like: Page | None = None, attempts: int = 0,
          written: bool = True) -> Page:
    """A page with its SEO's fingerprints; ``like``: with that page's title and content."""
    page = Page(url=f"https://shop.example/p/{n}", title=like.title if like else f"Page {n}",
                content=like.content if like else f"text {n}",
                seo_title=f"Title {title_key}", seo_description=f"Description {desc_key}",
                seo_site=SITE, seo_title_key=title_key, seo_description_key=desc_key, seo_attempts=attempts,
                seo_h1_key=-n, seo_generated_at=utcnow() - (timedelta(0) if written else timedelta(days=30)))
    page.save()
    return page


def test_a_page_in_two_groups_is_sent_back_once_with_both_lines_and_a_rerun_changes_nothing(any_db):
    keeper = _page(1, title_key=10, desc_key=20)
    both = _page(2, title_key=10, desc_key=20)  # the keeper's title and description
    title_only = _page(3, title_key=10, desc_key=23)
    same_content = _page(4, title_key=10, desc_key=24, like=keeper)  # a duplicate page
    spent = _page(5, title_key=10, desc_key=25, attempts=5)  # no attempts left
    unique = _page(6, title_key=16, desc_key=26)
    job = SeoBatchJob.create(status=JobStatus.PROCESSING, model="claude-sonnet-4-5",
                             submitted_at=utcnow() - timedelta(hours=1))
    settings = make_settings(max_attempts=5)

    found = check_site(job.id, settings)
    assert found["title_duplicate"] == {"groups": 1, "pages": 5, "regenerate": 2}
    assert found["description_duplicate"] == {"groups": 1, "pages": 2, "regenerate": 1}
    pages = {p.id: p for p in Page.select()}
    assert pages[both.id].seo_avoid == "title: Title 10\ndescription: Description 20"
    assert pages[both.id].seo_attempts == 1  # one night, one attempt, however many lines
    assert pages[title_only.id].seo_avoid == "title: Title 10" and pages[title_only.id].seo_attempts == 1
    for page in (keeper, same_content, spent, unique):
        assert pages[page.id].seo_avoid is None and pages[page.id].seo_attempts == page.seo_attempts

    again = check_site(job.id, settings)
    assert again["title_duplicate"]["regenerate"] == 0 and again["description_duplicate"]["regenerate"] == 0
    assert {p.id: (p.seo_avoid, p.seo_attempts) for p in Page.select()} == {
        p.id: (p.seo_avoid, p.seo_attempts) for p in pages.values()}


def test_only_groups_with_a_page_written_since_the_job_are_looked_at(any_db):
    _page(1, title_key=10, desc_key=20, written=False)
    old = _page(2, title_key=10, desc_key=21, written=False)
    job = SeoBatchJob.create(status=JobStatus.PROCESSING, model="claude-sonnet-4-5",
                             submitted_at=utcnow() - timedelta(hours=1))
    found = check_site(job.id, make_settings())
    assert found["title_duplicate"] == {"groups": 0, "pages": 0, "regenerate": 0}
    assert Page.get_by_id(old.id).seo_avoid is None
