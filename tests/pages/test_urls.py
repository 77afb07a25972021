"""The stored urls that are not in normal form (finding 17): what a migration would change."""

from __future__ import annotations

from seobatch.models import Page
from seobatch.pages.urls import check_urls


def test_check_urls_counts_the_stored_urls_a_migration_would_change(any_db):
    # Given rows stored before the rule: one merges with a stored page, one only changes
    for url in ["https://e.example.com/a", "HTTPS://E.example.com/a", "https://e.example.com/b#top",
                "https://e.example.com/c"]:
        Page.insert(url=url, content_hash="h").execute()
    report = check_urls(chunk_size=2)
    assert (report.pages, report.not_normal, report.collide) == (4, 2, 1)
    assert report.examples == [("HTTPS://E.example.com/a", "https://e.example.com/a"),
                               ("https://e.example.com/b#top", "https://e.example.com/b")]
    assert report.describe() == "2 of 4 pages have a url that is not in normal form (1 of them share it with another page)"
