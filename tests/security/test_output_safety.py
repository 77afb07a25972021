"""S3 and S4: hostile characters in model replies and page data.

- S3: HTML, script, quotes, bidi and zero-width characters in replies are stored
  sanitised, and ``seobatch pages export`` writes them so that its format parses back to
  exactly the stored values (CSV with formula cells defused, JSONL).
- S4: SQL metacharacters in page URLs, titles, text, attributes and replies are stored
  verbatim and the schema is untouched (the static half is tests/security/test_sql_static.py).
"""

from __future__ import annotations

import csv
import html
import io
import json
from html.parser import HTMLParser

import pytest

from seobatch import db
from seobatch.cli import main
from seobatch.models import JOB_EVENTS, Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.output import INVISIBLE_RE, OutputLimits, is_clean
from seobatch.stages import Step
from seobatch.stages.kickoff import kickoff
from seobatch.stages.results import results

from tests.faults.support import fault_settings
from tests.support.pipeline import LinesProvider, drive
from tests.support.shell import kept_root_logging

pytestmark = pytest.mark.timeout(60)

DESC = "A sturdy hand-made oak chair for every dining room, oiled and delivered assembled."


def line(custom_id: str, title: str, description: str = DESC) -> bytes:
    reply = json.dumps({"title": title, "meta_description": description}, ensure_ascii=False)
    return json.dumps({"custom_id": custom_id, "result": {"type": "succeeded", "message": {
        "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 10}}}}, ensure_ascii=False).encode()


#: (reply title, reply description, what must be stored: (title, description) or None = rejected)
S3_CASES = [
    ('"><script>alert(1)</script>Oak chair model one', DESC, ('"> alert(1) Oak chair model one', DESC)),
    ("</title><meta http-equiv=refresh content=0>Oak chair two", DESC, ("Oak chair two", DESC)),
    ('Oak "chair" & \'stool\' — <b>best</b> three', DESC, ('Oak "chair" & \'stool\' — best three', DESC)),
    ("&lt;img src=x onerror=alert(1)&gt;Oak chair four", DESC, ("Oak chair four", DESC)),
    ("\u202eruof riahc kaO\u202c oak chair five", DESC, ("ruof riahc kaO oak chair five", DESC)),
    ("Oak\u200b chair\u200d six\u2060 zero\ufeffwidth", DESC, ("Oak chair six zerowidth", DESC)),
    ("Oak chair\x00 seven\x1b[31m red", DESC, ("Oak chair seven[31m red", DESC)),
    ("Oak chair eight\nwith a\ttab", DESC + "\r\n<br>Second line", ("Oak chair eight with a tab", DESC + " Second line")),
    ("=HYPERLINK(\"http://x\",\"Oak chair nine\")", DESC, None),
    ("+Oak chair ten -@ formula start", "-" + DESC, ("+Oak chair ten -@ formula start", "-" + DESC)),
    ("javascript:alert(1) oak chair", DESC, None),
    ("Oak chair <a href='https://evil.example'>click</a>", DESC, ("Oak chair click", DESC)),
    ("Oak chair eleven, see evil-deals.com/deal", DESC, None),
]


class _Head(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.title = ""
        self.meta: list[dict] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_title = tag == "title"
        if tag == "meta":
            self.meta.append(dict(attrs))

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


@pytest.fixture
def cli_root():
    with kept_root_logging():
        yield


def test_s3_hostile_markup_and_invisible_characters_are_stored_sanitised_and_export_round_trips(
    any_db, monkeypatch, tmp_path, capsys, cli_root
):
    """S3: replies with tags, script, entities, quotes, bidi, zero-width and control
    characters → stored as clean plain text (or the item rejected); CSV and JSONL exports
    parse back to exactly the stored values, formula starts defused in CSV; rendered into
    an HTML head with attribute escaping, each value stays one title and one meta."""
    # The sanitiser's contract on its own: the quality gate (which also judges claims such
    # as the chair numbers against these one-line pages) is tested in tests/quality.
    settings = fault_settings().with_(quality_gate=False)
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status="processing", ai_batch_id="s3", total_pages=len(S3_CASES))
    lines = []
    for n, (title, description, _) in enumerate(S3_CASES):
        page = Page(url=f"https://shop.example.com/s3/{n}", title=f"Oak chair {n}", content="Oak chairs.")
        page.save()
        SeoBatchItem.insert(job=job.id, page=page.id, custom_id=f"p{page.id}", status="pending").execute()
        lines.append(line(f"p{page.id}", title, description))
    results(job.id, settings=settings, provider=LinesProvider("anthropic", lines))
    limits = OutputLimits.from_settings(settings)
    for n, (_, _, want) in enumerate(S3_CASES):
        page = Page.get(Page.url == f"https://shop.example.com/s3/{n}")
        item = SeoBatchItem.get(SeoBatchItem.page == page.id)
        if want is None:
            assert item.status == "errored" and item.error.startswith("invalid_output"), n
            assert page.seo_title is None
            continue
        assert item.status == "succeeded", (n, item.error)
        assert (page.seo_title, page.seo_description) == want, n
        for value in want:
            assert is_clean(value) and not INVISIBLE_RE.search(value) and "<" not in value
            assert limits.title_min <= len(want[0]) <= limits.title_max

    monkeypatch.setenv("DATABASE_URL", any_db)
    stored = {p.url: p for p in Page.select().where(Page.seo_title.is_null(False))}
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"pages.{fmt}"
        assert main(["pages", "export", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        rows = (list(csv.DictReader(io.StringIO(text, newline=""))) if fmt == "csv"
                else [json.loads(x) for x in text.splitlines()])
        exported = {r["url"]: r for r in rows if r["seo_title"]}
        assert set(exported) == set(stored)
        for url, page in stored.items():
            for field in ("seo_title", "seo_description"):
                value, got = getattr(page, field), exported[url][field]
                if fmt == "csv" and value.lstrip().startswith(("=", "+", "-", "@")):
                    assert got == "'" + value  # a spreadsheet will not evaluate it
                else:
                    assert got == value
    db.configure(any_db)

    for page in stored.values():
        head = (f"<head><title>{html.escape(page.seo_title)}</title>"
                f'<meta name="description" content="{html.escape(page.seo_description, quote=True)}"></head>')
        parsed = _Head()
        parsed.feed(head)
        assert parsed.tags == ["head", "title", "meta"]
        assert parsed.title == page.seo_title
        assert parsed.meta == [{"name": "description", "content": page.seo_description}]


SQL_BITS = "O'Brien\"s; DROP TABLE seo_pages;-- %s %(id)s ? $1 \\ {}"


def test_s4_sql_metacharacters_in_pages_and_replies_are_stored_verbatim(any_db, emulator):
    """S4: a page whose URL, title, text and attributes are full of SQL metacharacters goes
    through the whole pipeline (prompt, emulator, reply, bulk writes): every value is
    stored verbatim, the reply echoing them too, and every table is still there."""
    settings = fault_settings(emulator)
    url = "https://shop.example.com/o'brien;--%s?q=1'%20OR%20'1'='1"
    page = Page(url=url, title=f"Chair {SQL_BITS}", content=f"Chair text {SQL_BITS} " * 3,
                attributes={"sku'; DELETE FROM seo_batch_jobs;--": SQL_BITS})
    page.save()
    job_id = kickoff(settings=settings).job.id
    drive([Step("collect", job_id)], settings)
    stored = Page.get(Page.url == url)
    assert (stored.title, stored.content, stored.attributes) == (page.title, page.content, page.attributes)
    assert SeoBatchJob.get_by_id(job_id).status == "completed"
    assert stored.seo_title is not None and SQL_BITS.split(" %s")[0] in stored.seo_title
    assert "%(id)s ? $1" in stored.seo_description
    item = SeoBatchItem.get(SeoBatchItem.page == stored.id)
    assert item.result == {"title": stored.seo_title, "meta_description": stored.seo_description}
    for model in (Page, SeoBatchJob, SeoBatchItem, SeoBatchEvent):
        assert model.table_exists()
    assert SeoBatchEvent.select().where(
        (SeoBatchEvent.job == job_id) & SeoBatchEvent.name.in_(JOB_EVENTS)).count() == 2
