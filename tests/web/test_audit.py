"""The audit page against ``seobatch audit`` itself: for each scope (published, a job,
live) the page's numbers are the CLI's ``--json`` for the same database, and a check's
pages, followed page by page, are exactly the CLI's ``--csv`` rows of that check. On
PostgreSQL and SQLite; permissions and bad scopes too."""

from __future__ import annotations

import csv
import html
import json
import re

import pytest

from seobatch.cli import main

from tests.web.conftest import audit_page, count_runs
from tests.web.seed import EVIL_URL as EVIL
from tests.web.seed import audited_site as _site

_ROW_RE = re.compile(r'<tr class="sev-[a-z]+" data-check="([a-z0-9_]+)" data-count="(\d+)" data-share="([0-9.e-]+)">'
                     r'(.*?)</tr>', re.S)


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _cli(monkeypatch, capsys, url: str, *args: str) -> str:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit", *args]) == 0
    return capsys.readouterr().out


SCOPES = {"published": ("", ()), "live": ("?scope=live", ("--live",)), "job": ("?scope=job&job={job}", ("--job", "{job}"))}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_the_page_shows_what_seobatch_audit_json_reports(clients, web_db, monkeypatch, capsys, scope):
    job = _site()
    query, args = SCOPES[scope]
    expected = json.loads(_cli(monkeypatch, capsys, web_db, *(a.format(job=job) for a in args), "--json"))
    page = audit_page(clients["viewer"], "/audit" + query.format(job=job))
    assert f'data-pages="{expected["pages"]}"' in page
    shown = {}
    for name, count, share, cells in _ROW_RE.findall(page):
        examples = [html.unescape(u) for u in re.findall(r'<div class="example">(.*?)</div>', cells)]
        shown[name] = {"count": int(count), "share": float(share), "urls": examples,
                       "severity": re.search(r"<td>(issue|warning|opportunity)</td>", cells).group(1)}
    want = {c["check"]: {"count": c["count"], "share": c["share"], "urls": c["urls"][:3], "severity": c["severity"]}
            for c in expected["checks"] if c["count"]}
    assert shown == want
    assert len(want) >= 3  # the seed fires several checks in every scope
    assert list(shown) == [c["check"] for c in expected["checks"] if c["count"]]  # in the CLI's order
    clean = set(re.findall(r'data-clean="([a-z0-9_]+)"', page))
    assert clean == {c["check"] for c in expected["checks"] if not c["count"]}
    assert "<script>alert(1)" not in page and "<b>Home" not in page


@pytest.mark.parametrize("kept", ["cached", "streamed"])
@pytest.mark.parametrize("scope", list(SCOPES))
def test_a_checks_pages_page_by_page_are_the_csv_rows_of_that_check(app, clients, web_db, monkeypatch, capsys,
                                                                      tmp_path, scope, kept):
    """From the cached overview's URLs, or (over the cache's cap) streamed as before it."""
    from seobatch.web.views import audit as view

    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    if kept == "streamed":
        app.extensions["seobatch.audit_cache"].max_url_bytes = 0
    job = _site()
    query, args = SCOPES[scope]
    out = tmp_path / "issues.csv"
    _cli(monkeypatch, capsys, web_db, *(a.format(job=job) for a in args), "--csv", str(out))
    by_check: dict[str, set[str]] = {}
    for row in csv.DictReader(out.open(encoding="utf-8")):
        by_check.setdefault(row["check"], set()).add(row["url"])
    runs = count_runs(monkeypatch)
    overview = audit_page(clients["viewer"], "/audit" + query.format(job=job))
    links = dict(re.findall(r'data-check="([a-z0-9_]+)".*?<a href="([^"]+)"', overview, re.S))
    assert set(links) == set(by_check)
    for check, link in links.items():
        seen, path = [], html.unescape(link)
        while path:
            page = audit_page(clients["viewer"], path)
            assert f'data-check="{check}"' in page and "<script>alert(1)" not in page
            assert f'data-count="{len(by_check[check])}"' in page
            urls = [html.unescape(u) for u in re.findall(r'<li class="url">(.*?)</li>', page)]
            assert 1 <= len(urls) <= 2
            seen += urls
            nxt = re.search(r'rel="next" href="([^"]+)"', page)
            path = html.unescape(nxt.group(1)) if nxt else ""
        assert seen == sorted(by_check[check]), check
    pages = sum(-(-len(urls) // 2) for urls in by_check.values())
    assert len(runs) == (1 if kept == "cached" else 1 + pages)  # the overview, then each page streamed


def test_the_injected_url_is_listed_escaped(clients):
    _site()
    page = audit_page(clients["viewer"], "/audit/language_mismatch")
    assert html.escape(EVIL, quote=False) in page and EVIL not in page


@pytest.mark.parametrize("path, status", [
    ("/audit?scope=everything", 400), ("/audit?scope=job", 400), ("/audit?scope=job&job=abc", 400),
    ("/audit?scope=job&job=999999", 404), ("/audit/no_such_check", 404), ("/audit/title_duplicate?scope=job", 400),
])
def test_bad_scopes_and_checks(clients, path, status):
    response = clients["viewer"].get(path)
    assert response.status_code == status and "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/audit", "/audit/title_duplicate", "/audit?scope=live"])
def test_signed_out_gets_no_audit(clients, path):
    assert clients["anon"].get(path).status_code in (302, 401)
