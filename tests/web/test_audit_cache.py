"""The Audit page's cache (``web.audit_cache``): a missing overview is computed once, in
the background, while the page says so and reloads; two requests meanwhile share that one
run; a check's pages come from it; a change of the data gives fresh numbers; a failure is
one line on the page and a full record in the log; the cache stays within its bounds.
On PostgreSQL and SQLite, counting ``run_audit``'s runs by the statement each run starts with."""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading

import pytest

from seobatch import db
from seobatch.cli import main
from seobatch.models import Page, PageRevision
from seobatch.pages.importing import import_pages
from seobatch.revisions import Source, State
from seobatch.web.audit_cache import AuditCache, Busy, SortedUrls, _Collector, one_line

from tests.support.canaries import CANARIES
from tests.web.conftest import audit_page, count_runs, csrf_of
from tests.web.seed import DESCRIPTION
from tests.web.seed import audited_site as _site

PENDING = "Computing the audit of"


def counts_of(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'data-check="([a-z0-9_]+)" data-count="(\d+)"', page)}


def cli_counts(monkeypatch, capsys, url: str, *args: str) -> dict[str, int]:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit", *args, "--json"]) == 0
    return {c["check"]: c["count"] for c in json.loads(capsys.readouterr().out)["checks"] if c["count"]}


def test_two_requests_while_it_runs_share_one_audit_and_its_checks_pages_read_it(app, clients, monkeypatch):
    _site()
    runs = count_runs(monkeypatch)
    cache: AuditCache = app.extensions["seobatch.audit_cache"]
    held, release = [], threading.Event()

    def hold(entry):  # the run waits here until both requests are in
        held.append(entry.key)
        assert release.wait(30)

    cache.on_start = hold
    try:
        first = clients["viewer"].get("/audit")
        second = clients["reviewer"].get("/audit")  # another user, meanwhile
    finally:
        release.set()
    for response in (first, second):
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and PENDING in page
        assert re.search(r'<meta http-equiv="refresh" content="\d+; url=/audit">', page)
        assert "no-store" in response.headers["Cache-Control"]
        assert re.search(r"\(started \d\d:\d\d UTC\)", page) and 'data-pages="5"' in page  # the published
    assert cache.join()
    page = audit_page(clients["viewer"], "/audit")
    assert PENDING not in page and counts_of(page)["title_duplicate"] == 2
    for _ in range(2):  # a reload, and a check's pages, page by page
        assert counts_of(audit_page(clients["admin"], "/audit"))["title_duplicate"] == 2
        assert 'data-count="2"' in audit_page(clients["viewer"], "/audit/title_duplicate")
    assert held == [("published", None)] and len(runs) == 1


def test_a_checks_page_first_starts_the_audit_and_waits_for_it(app, clients, monkeypatch):
    _site()
    runs = count_runs(monkeypatch)
    first = clients["viewer"].get("/audit/title_duplicate?scope=live").get_data(as_text=True)
    assert PENDING in first or 'data-check="title_duplicate"' in first  # done already on a fast machine
    assert re.search(r'url=/audit/title_duplicate\?scope=live"', first) or PENDING not in first
    audit_page(clients["viewer"], "/audit/title_duplicate?scope=live")
    audit_page(clients["viewer"], "/audit?scope=live")
    assert len(runs) == 1


def test_a_change_of_the_data_gives_fresh_numbers(app, clients, web_db, monkeypatch, capsys, tmp_path):
    """Neither change alters the number of pages, nor (the approval) the newest revision."""
    job = _site()
    page = Page.get(Page.url == f"https://shop.example/{job}/0")  # one of a duplicate pair
    proposal = PageRevision.create(page=page, job=job, title="Sturdy oak chairs for every dining room, oiled",
                                   description=DESCRIPTION, state=State.PROPOSED, source=Source.GENERATED)
    before = cli_counts(monkeypatch, capsys, web_db)
    live_before = cli_counts(monkeypatch, capsys, web_db, "--live")
    runs = count_runs(monkeypatch)
    assert counts_of(audit_page(clients["viewer"], "/audit")) == before
    assert counts_of(audit_page(clients["viewer"], "/audit?scope=live")) == live_before
    assert before["title_duplicate"] == 2 and len(runs) == 2

    response = clients["reviewer"].post("/review/decide", data={"one": f"approve:{proposal.id}",
                                                                "csrf_token": csrf_of(clients["reviewer"], "/review")})
    assert response.status_code == 302
    (tmp_path / "pages.csv").write_text("url,title,content\nhttps://shop.example/plain,Home,A pine table.\n")
    assert import_pages(str(tmp_path / "pages.csv")).updated == 1  # a live title now a placeholder
    after = cli_counts(monkeypatch, capsys, web_db)
    live_after = cli_counts(monkeypatch, capsys, web_db, "--live")
    assert after != before and live_after != live_before and "title_duplicate" not in after
    runs = count_runs(monkeypatch)
    assert counts_of(audit_page(clients["viewer"], "/audit")) == after
    assert counts_of(audit_page(clients["viewer"], "/audit?scope=live")) == live_after
    assert len(runs) == 2
    audit_page(clients["viewer"], "/audit")  # and unchanged data is served from the cache again
    assert len(runs) == 2


def test_a_failed_audit_is_one_line_on_the_page_and_logged_in_full(app, clients, caplog):
    _site()
    db.database.execute_sql("ALTER TABLE seo_pages RENAME COLUMN h1 TO h1_gone")  # the audit reads h1
    try:
        with caplog.at_level(logging.ERROR, logger="seobatch.web.audit_cache"):
            page = audit_page(clients["viewer"], "/audit")
    finally:
        db.database.execute_sql("ALTER TABLE seo_pages RENAME COLUMN h1_gone TO h1")
    failure = re.search(r'<p class="flash flash-error audit-error" role="alert">(.*?)</p>', page, re.S)
    assert failure and "\n" not in failure.group(1) and "h1" in failure.group(1)
    assert "Traceback" not in page and "http-equiv" not in page  # no reload loop over a failure
    logged = [r for r in caplog.records if r.getMessage().startswith("audit_failed")]
    # the traceback: on the record, or folded into its text by the redacting filter
    assert logged and all(r.exc_info or "Traceback" in r.getMessage() for r in logged)
    # the data did not change, so the failure stays until asked again: then it runs afresh
    assert "audit-error" in audit_page(clients["viewer"], "/audit")
    again = re.search(r'href="([^"]+retry=1[^"]*)"', page).group(1)
    assert 'data-source="published"' in audit_page(clients["viewer"], again.replace("&amp;", "&"))


def test_a_failure_line_names_no_secret():
    exc = RuntimeError(f"could not connect with key {CANARIES[0]}\nTraceback (most recent call last): …")
    line = one_line(exc, (CANARIES[0],))
    assert line.startswith("RuntimeError: could not connect") and CANARIES[0] not in line and "\n" not in line


def test_the_cache_keeps_a_few_overviews_and_never_drops_a_running_one(app, clients, monkeypatch):
    job = _site()
    cache = AuditCache(max_entries=2)
    args = {"examples": 3, "chunk_size": 100}
    cache.get("published", None, args)
    cache.get("live", None, args)
    assert cache.join()
    cache.get("job", job, args)  # the least recently used (published) goes
    assert cache.join() and set(cache._entries) == {("live", None), ("job", job)}

    release = threading.Event()
    cache.on_start = lambda entry: release.wait(30)
    cache._entries.clear()
    cache.get("published", None, args)
    cache.get("live", None, args)
    with pytest.raises(Busy):
        cache.get("job", job, args)
    release.set()
    assert cache.join()


def test_packed_urls_keep_the_order_of_str_and_the_cap_drops_the_largest_list_first():
    urls = ["https://b.example/ü", "https://a.example/z", "https://a.example/é", "https://a.example/z",
            "https://a.example/\U0001F600", "https://a.example/\udcff"]  # a lone surrogate, as imports may keep
    want = sorted(set(urls))
    packed = SortedUrls(b"".join(u.encode("utf-8", "surrogatepass") + b"\x00" for u in urls))
    assert list(packed) == want and packed[-1] == want[-1] and packed[1:3] == want[1:3]
    assert bisect.bisect_right(packed, "https://a.example/z") == want.index("https://a.example/z") + 1

    collect = _Collector(cap=4 * (len("https://x.example/00") + 8))
    for i in range(3):
        collect((f"https://x.example/{i:02d}", "big", "issue", "title", ""))
    collect(("https://y.example/01", "small", "warning", "title", ""))
    assert collect.dropped == set()
    collect(("https://y.example/02", "small", "warning", "title", ""))  # over the cap: the largest goes
    collect(("https://x.example/03", "big", "issue", "title", ""))  # and stays gone
    collect(("https://z.example/\x00", "odd", "issue", "title", ""))  # a NUL cannot be packed: it streams
    assert collect.total == 2 * (len("https://y.example/01") + 8)
    assert collect.dropped == {"big", "odd"} and {k: list(v) for k, v in collect.packed().items()} == {
        "small": ["https://y.example/01", "https://y.example/02"]}
