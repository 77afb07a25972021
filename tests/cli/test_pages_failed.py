"""`seobatch pages failed` / `pages reset`: pages left alone after SEOBATCH_MAX_ATTEMPTS."""

from __future__ import annotations

import json

from seobatch.cli import main
from seobatch.models import Page

from tests.support.pages import make_pages


def _fail(pages, attempts, error="api_error: Internal server error"):
    for p in pages:
        Page.update(seo_attempts=attempts, seo_last_error=error).where(Page.id == p.id).execute()


def test_pages_left_alone_are_listed_counted_in_the_dry_run_and_can_be_reset(any_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", any_db)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    pages = make_pages(5)
    _fail(pages[:3], 3)
    _fail(pages[3:4], 1, "invalid_output: title is 80 characters")  # still tried tonight
    # The three pages the collector skips are listed, with their attempts and last error
    assert main(["pages", "failed"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{p.url}  3 attempts  api_error: Internal server error" for p in pages[:3]]
    assert "3 of 3 pages left alone after 3 failed attempts" in err
    assert main(["pages", "failed", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "url": pages[0].url, "attempts": 3, "last_error": "api_error: Internal server error"}
    # The dry run says they are skipped
    assert main(["run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "pages to do:     2" in out and "left alone:      3 pages failed 3 nights" in out
    # One by url, then the rest
    assert main(["pages", "reset", pages[0].url, "https://nowhere.example.com/"]) == 0
    assert "reset 1 page (1 not known or without failed attempts)" in capsys.readouterr().out
    assert main(["pages", "reset", "--all"]) == 0
    assert "reset 2 pages" in capsys.readouterr().out
    assert Page.select().where(Page.seo_attempts >= 3).count() == 0
    assert main(["run", "--dry-run"]) == 0
    assert "pages to do:     5" in capsys.readouterr().out
    assert main(["pages", "reset"]) == 1  # neither urls nor --all
