"""End to end in a real browser: Debian's chromium, driven by Playwright, against the app
served by waitress on 127.0.0.1 in a thread — sign in, runs, a job with its previews,
the preview tool's cut, an admin's cancel seen in the database; the review queue filtered,
a proposal's cut, a selection approved and the job rolled back, each seen in the
database; the audit's numbers as ``seobatch audit --json`` gives them, a check clicked
through to its pages, the scope switched to live; screenshots (the review queue's is the
README's, docs/review-queue.png).

Never ``playwright install``: the browser is /usr/bin/chromium (``apt-get install
chromium``). Without it these tests skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator

import pytest

from seobatch.cli import main
from seobatch.jobmeta import JobStatus
from seobatch.models import Page, PageRevision, SeoBatchJob
from seobatch.revisions import State
from seobatch.web.server import ServerThread

from tests.support.services import IN_CI
from tests.web.conftest import PASSWORD
from tests.web.seed import EVIL_URL, LONG_TITLE, audited_site, collecting_job, completed_job, proposed_job

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.timeout(120), pytest.mark.postgres]


def _require_chromium() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401  (an optional test tool until installed)
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(f"{message} (CI=true: these tests must run)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One chromium for the module (starting one costs about a second)."""
    _require_chromium()
    from playwright.sync_api import (
        sync_playwright,  # after the check: skips cleanly without it
    )

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def any_db(pg_db) -> str:
    """The browser tests run on PostgreSQL only (the request tests cover SQLite)."""
    return pg_db


@pytest.fixture
def served(app, users) -> Iterator[str]:
    """The app behind a real waitress server on 127.0.0.1; yields its base URL."""
    server = ServerThread(app, threads=4).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.violations = []  # CSP violations the browser reports, which must stay empty
    tab.on("console", lambda msg: tab.violations.append(msg.text)
           if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)
    yield tab
    context.close()


def _sign_in(page, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/runs")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_an_admin_signs_in_reads_runs_and_a_job_checks_the_cut_and_cancels_a_job(page, served, tmp_path):
    done = completed_job(succeeded=3, errored=2)
    live = collecting_job()

    _sign_in(page, served, "admin", "not the password")
    assert page.locator(".flash-error").inner_text() == "Wrong name or password."
    _sign_in(page, served, "admin")
    page.wait_for_url(f"{served}/runs")
    assert page.locator(f'tr[data-job="{done.id}"]').count() == 1
    assert page.locator("svg.nightly rect.bar").count() == 30
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)

    page.click(f'tr[data-job="{done.id}"] a')
    page.wait_for_url(f"{served}/jobs/{done.id}")
    assert "invalid_output: title is N characters" in page.locator("section.errors").inner_text()
    desktop = page.locator('figure[data-profile="desktop"]').first
    shown = desktop.locator(".serp-title .line").inner_text()
    assert shown == "Discover Running Shoes for Every Kind of Runner: Everything…"
    assert LONG_TITLE.startswith(shown[:-1])
    assert desktop.locator(".hidden-text").first.inner_text() == "You Need to Know Today"
    mobile_lines = page.locator('figure[data-profile="mobile"]').first.locator(".serp-title .line")
    assert mobile_lines.count() == 2
    shot = tmp_path / "job.png"  # kept by pytest under its basetemp for a look
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.goto(f"{served}/jobs/{live.id}")
    page.click("text=Cancel job…")
    page.wait_for_url(f"{served}/jobs/{live.id}/cancel")
    page.click(f"button:has-text('Cancel job {live.id}')")
    page.wait_for_url(f"{served}/jobs/{live.id}")
    assert "canceled before submission" in page.locator(".flash-ok").inner_text()
    row = SeoBatchJob.get_by_id(live.id)
    assert row.status == JobStatus.FAILED and row.metadata["error"] == "canceled by operator admin (web)"
    assert page.violations == []


def test_a_viewer_gets_no_cancel_button_and_the_preview_tool_cuts_on_the_server(page, served, tmp_path):
    live = collecting_job()
    _sign_in(page, served, "viewer")
    page.wait_for_url(f"{served}/runs")
    page.goto(f"{served}/jobs/{live.id}")
    assert page.locator("text=Cancel job…").count() == 0
    response = page.goto(f"{served}/jobs/{live.id}/cancel")
    assert response.status == 403 and "Not allowed" in page.inner_text("h1")

    page.goto(f"{served}/preview")
    page.fill("input[name=title]", "W" * 30 + " " + "a" * 40)
    page.fill("textarea[name=description]", "A short description.")
    page.click("button:has-text('Preview')")
    desktop = page.locator('figure[data-profile="desktop"]')
    assert desktop.get_attribute("data-truncated") == "title"
    assert desktop.locator(".serp-title .line").inner_text() == "W" * 30 + "…"
    assert page.locator('figure[data-profile="mobile"]').get_attribute("data-truncated") == ""
    page.screenshot(path=str(tmp_path / "preview.png"))
    assert (tmp_path / "preview.png").stat().st_size > 5_000
    assert SeoBatchJob.get_by_id(live.id).status == JobStatus.COLLECTING
    assert page.violations == []


def test_a_reviewer_filters_the_queue_checks_a_cut_approves_a_selection_and_an_admin_rolls_back(
        page, served, tmp_path):
    wide = [{"name": "title_too_wide", "severity": "warning", "field": "title", "detail": "title is 702 px"}]
    de = proposed_job([LONG_TITLE, "Stühle aus Eiche | Shop", "Tische aus Kiefer | Shop"], language="de",
                      checks=wide, flagged=True)
    en = proposed_job(["Oak chairs | Shop", "Pine tables | Shop"], language="en")
    _sign_in(page, served, "admin")
    page.wait_for_url(f"{served}/runs")
    page.click("nav >> text=Review")
    page.wait_for_url(f"{served}/review")
    assert page.locator("article.revision").count() == 5
    page.select_option("select[name=flagged]", "yes")
    page.fill("input[name=language]", "de")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/review?*language=de*")
    cards = page.locator("article.revision")
    assert cards.count() == 3
    first = cards.first
    desktop = first.locator('section.new figure[data-profile="desktop"]')
    assert desktop.get_attribute("data-truncated") == "title"
    assert desktop.locator(".serp-title .line").inner_text() == "Discover Running Shoes for Every Kind of Runner: Everything…"
    assert first.locator('section.new figure[data-profile="mobile"] .serp-title .line').count() == 2
    assert "title_too_wide" in first.locator("ul.checks").inner_text()
    shot = tmp_path / "review-queue.png"
    page.screenshot(path=str(shot))
    assert 20_000 < shot.stat().st_size < 200_000
    keep = os.environ.get("SEOBATCH_SCREENSHOT_DIR")  # `SEOBATCH_SCREENSHOT_DIR=docs` refreshes the README's
    if keep:
        page.screenshot(path=os.path.join(keep, "review-queue.png"))

    chosen = [int(cards.nth(i).get_attribute("data-revision")) for i in (0, 2)]
    for rid in chosen:
        page.check(f'input[name=ids][value="{rid}"]')
    page.click("button:has-text('Approve selected')")
    page.wait_for_selector(".flash-ok")
    assert "approved 2 revisions (by admin)" in page.locator(".flash-ok").inner_text()
    live = {r.id: r.decided_by for r in PageRevision.select().where(PageRevision.state == State.PUBLISHED)}
    assert live == {chosen[0]: "admin", chosen[1]: "admin"}
    titles = {p.id: p.seo_title for p in Page.select()}
    approved = [PageRevision.get_by_id(rid) for rid in chosen]
    assert [titles[r.page_id] for r in approved] == [r.title for r in approved]
    assert page.locator("article.revision").count() == 1  # the filter stays, the decided ones leave

    page.goto(f"{served}/jobs/{de.id}")
    page.click("text=Roll back job…")
    page.wait_for_url(f"{served}/rollback?job={de.id}")
    assert "2 pages change" in page.locator("p.plan").inner_text()
    page.click("button:has-text('Roll back 2 pages')")
    page.wait_for_url(f"{served}/jobs/{de.id}")
    assert "rolled back 2 pages" in page.locator(".flash-ok").inner_text()
    restored = {p.id: p.seo_title for p in Page.select()}
    assert [restored[r.page_id] for r in approved] == [Page.get_by_id(r.page_id).title for r in approved]
    assert PageRevision.select().where(PageRevision.state == State.ROLLED_BACK).count() == 2
    assert PageRevision.select().where((PageRevision.job == en.id) & (PageRevision.state == State.PROPOSED)).count() == 2
    assert page.violations == []


def _audit_json(monkeypatch, capsys, url: str, *args: str) -> dict:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _shown_checks(page) -> dict[str, tuple[int, float]]:
    rows = page.locator("table.audit tbody tr")
    return {rows.nth(i).get_attribute("data-check"): (int(rows.nth(i).locator("td").nth(2).inner_text()),
                                                      float(rows.nth(i).get_attribute("data-share")))
            for i in range(rows.count())}


def test_a_viewer_reads_the_audit_clicks_a_check_through_to_its_pages_and_audits_the_live_titles(
        page, served, any_db, monkeypatch, capsys, tmp_path):
    from seobatch.web.views import audit as view

    monkeypatch.setattr(view, "PAGE_SIZE", 1)  # two pages of a duplicate pair
    audited_site()
    published = _audit_json(monkeypatch, capsys, any_db)
    _sign_in(page, served, "viewer")
    page.wait_for_url(f"{served}/runs")
    page.click("nav >> text=Audit")
    page.wait_for_url(f"{served}/audit")
    page.wait_for_selector("p.summary[data-source]")  # "computing…" reloads itself until the audit is done
    assert _shown_checks(page) == {c["check"]: (c["count"], c["share"]) for c in published["checks"] if c["count"]}
    assert f"Audit of {published['pages']} pages" in page.locator("p.summary").inner_text()
    page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    assert (tmp_path / "audit.png").stat().st_size > 10_000
    keep = os.environ.get("SEOBATCH_SCREENSHOT_DIR")  # the README's docs/audit.png
    if keep:
        page.screenshot(path=os.path.join(keep, "audit.png"))

    out = tmp_path / "issues.csv"
    monkeypatch.setenv("DATABASE_URL", any_db)
    assert main(["audit", "--csv", str(out)]) == 0
    capsys.readouterr()  # its text overview
    wanted = sorted(r["url"] for r in csv.DictReader(out.open(encoding="utf-8")) if r["check"] == "title_duplicate")
    assert len(wanted) == 2
    page.click('tr[data-check="title_duplicate"] a')
    page.wait_for_url(f"{served}/audit/title_duplicate")
    assert page.locator("h1").inner_text() == "title_duplicate"
    seen = [page.locator("ol.check-pages li").inner_text()]
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"/audit/title_duplicate\?after="))
    seen.append(page.locator("ol.check-pages li").inner_text())
    assert seen == wanted and page.locator("a[rel=next]").count() == 0

    page.click("text=← Audit")
    page.wait_for_url(f"{served}/audit")
    page.check("input[name=scope][value=live]")
    page.click("button:has-text('Audit')")
    page.wait_for_url(re.compile(r"/audit\?.*scope=live"))
    page.wait_for_selector("p.summary[data-source]")
    live = _audit_json(monkeypatch, capsys, any_db, "--live")
    assert _shown_checks(page) == {c["check"]: (c["count"], c["share"]) for c in live["checks"] if c["count"]}
    monkeypatch.setattr(view, "PAGE_SIZE", 100)  # the server runs in this process
    page.click('tr[data-check="title_too_narrow"] a')
    page.wait_for_url(re.compile(r"/audit/title_too_narrow\?scope=live"))
    assert EVIL_URL in page.locator("ol.check-pages").inner_text()  # shown as text, inert
    assert page.violations == []


def test_without_chromium_the_browser_tests_skip_on_a_laptop_and_fail_under_ci(monkeypatch):
    import tests.web.test_browser as module  # this module itself, to patch its globals

    monkeypatch.setattr(module, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(module, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        module._require_chromium()
    monkeypatch.setattr(module, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true: these tests must run"):
        module._require_chromium()
