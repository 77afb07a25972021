"""Page export on SQLite and PostgreSQL: keyset reads, safe CSV, the format a file name says, what changed."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from seobatch.db import utcnow
from seobatch.errors import InputError
from seobatch.models import Page, SeoBatchJob
from seobatch.pages.export import EXPORT_FIELDS, export_pages, parse_since, spreadsheet_safe
from seobatch.pages.importing import import_pages

from tests.support.pages import TRICKY, read_export, seed_export_pages, write_jsonl


def test_jsonl_export_round_trips_every_value(any_db):
    seed_export_pages()
    out = io.StringIO()
    assert export_pages(stream=out, fmt="jsonl") == 4
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["url"], r["title"], r["seo_title"], r["seo_description"]) for r in rows] == TRICKY
    assert rows[0]["seo_generated_at"].endswith("Z") and rows[3]["seo_generated_at"] is None
    assert list(rows[0]) == list(EXPORT_FIELDS)


def test_csv_export_is_quoted_and_defuses_formulas(any_db, tmp_path):
    seed_export_pages()
    path = tmp_path / "out.csv"
    assert export_pages(str(path)) == 4
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(EXPORT_FIELDS)
    got = [tuple(r[:4]) for r in rows[1:]]
    assert got == [
        ("https://example.com/1", 'He said "hi", then left', "'=HYPERLINK(\"http://evil\")",
         "Line one\nline two, with comma"),
        ("https://example.com/2", "'+1 offer", "'@SUM(A1:A2)", "'-2 degrees; \"cold\"\r\nnext"),
        ("https://example.com/3", "Plain title", "Über Größe – 日本語", "' =leading space formula"),
        ("https://example.com/4", "", "", ""),
    ]
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_can_skip_pages_without_generated_seo(any_db):
    seed_export_pages()
    out = io.StringIO()
    assert export_pages(stream=out, generated_only=True) == 3


def test_export_reads_in_keyset_pages_one_query_per_chunk(queries, tmp_path):
    Page.insert_many(
        [{"url": f"https://example.com/{i}", "content_hash": "h", "content": ""} for i in range(2500)]
    ).execute()
    queries.clear()
    out = io.StringIO()
    assert export_pages(stream=out, chunk_size=1000) == 2500
    assert len(queries) == 3
    assert all("OFFSET" not in q.upper() for q in queries)
    urls = [json.loads(line)["url"] for line in out.getvalue().splitlines()]
    assert len(set(urls)) == 2500


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"),
     ("\rx", "'\rx"), ("  =x", "'  =x"), ("\uff1dx", "'\uff1dx"), ("a=b", "a=b"), ("", "")],
)
def test_spreadsheet_safe_prefixes_formula_starts(value, safe):
    assert spreadsheet_safe(value) == safe


# -- file names and formats (finding 6) -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "gzipped", "is_csv"),
    [("out.csv", False, True), ("out.csv.gz", True, True), ("out.jsonl", False, False),
     ("out.jsonl.gz", True, False), ("OUT.CSV.GZ", True, True)],
)
def test_export_writes_the_format_its_file_name_says(any_db, tmp_path, name, gzipped, is_csv):
    seed_export_pages()
    path = tmp_path / name
    assert export_pages(str(path)) == 4
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is gzipped
    text = (gzip.decompress(raw) if gzipped else raw).decode("utf-8")
    assert text.startswith("url,title,") is is_csv
    assert [r["url"] for r in read_export(path)] == [t[0] for t in TRICKY]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("name", ["out.xlsx", "out.txt.gz", "out.gz", "out", "out.json"])
def test_export_refuses_a_file_name_it_cannot_honour(any_db, tmp_path, name):
    seed_export_pages()
    with pytest.raises(InputError, match=r"cannot tell the export format from the file name: name it "
                                         r"\.csv, \.csv\.gz, \.jsonl or \.jsonl\.gz"):
        export_pages(str(tmp_path / name))
    assert not (tmp_path / name).exists() and not list(tmp_path.glob(".*.tmp"))


def test_export_refuses_a_format_that_contradicts_the_file_name(any_db, tmp_path):
    with pytest.raises(InputError, match="the file name says csv but --format says jsonl"):
        export_pages(str(tmp_path / "out.csv"), fmt="jsonl")


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.jsonl", "p.jsonl.gz", "P.JSONL.GZ"])
def test_an_export_reads_back_in_each_of_the_four_formats(any_db, tmp_path, name):
    # Given pages with attributes of their own, exported
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"url": "https://example.com/a", "title": "A", "content": "x", "cms_id": "7", "sku": "A-1"},
        {"url": "https://example.com/b", "title": "B", "content": "y"},
    ])
    import_pages(str(path))
    Page.update(seo_title="Generated").execute()
    assert export_pages(str(tmp_path / name)) == 2
    # When the export is imported
    summary = import_pages(str(tmp_path / name))
    # Then every row reads back, and the seo_* columns are not taken as page attributes
    assert (summary.imported, summary.rejected, Page.select().count()) == (2, 0, 2)
    assert Page.get(Page.url == "https://example.com/a").attributes == {"cms_id": "7", "sku": "A-1"}
    assert Page.get(Page.url == "https://example.com/b").attributes is None


# -- the import's own columns and "what changed" in the export (finding 19) -------------------


def seed_with_attributes() -> None:
    Page.create(url="https://example.com/1", title="One", seo_title="S1",
                attributes={"cms_id": 101, "sku": "=SKU-1", "tags": ["a", "b"]})
    Page.create(url="https://example.com/2", title="Two", attributes={"language": "de", "seo_title": "mine"})
    Page.create(url="https://example.com/3", title="Three")


def test_csv_export_keeps_the_imports_own_columns_after_the_seo_fields(any_db, tmp_path):
    seed_with_attributes()
    path = tmp_path / "out.csv"
    export_pages(str(path))
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    # The attribute names of every page, in name order; one that clashes with an export
    # column is prefixed; lists are JSON; formulas are defused in these cells too
    assert rows[0] == [*EXPORT_FIELDS, "attributes.seo_title", "cms_id", "language", "sku", "tags"]
    assert rows[1][6:] == ["", "101", "", "'=SKU-1", '["a", "b"]']
    assert rows[2][2] == "" and rows[2][6:] == ["mine", "", "de", "", ""]
    assert rows[3][6:] == ["", "", "", "", ""]


def test_jsonl_export_keeps_the_imports_own_columns_and_can_leave_them_out(any_db):
    seed_with_attributes()
    out = io.StringIO()
    export_pages(stream=out)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["cms_id"], first["sku"], first["tags"]) == (101, "=SKU-1", ["a", "b"])
    assert (second["seo_title"], second["attributes.seo_title"], second["language"]) == (None, "mine", "de")
    assert list(third) == list(EXPORT_FIELDS)
    out = io.StringIO()
    export_pages(stream=out, fmt="csv", attributes=False)
    assert out.getvalue().splitlines()[0] == ",".join(EXPORT_FIELDS)


def test_export_since_a_time_or_a_job_keeps_only_what_changed(any_db):
    # Given SEO generated last night by job 1 and tonight by job 2
    from datetime import timedelta

    now = utcnow().replace(microsecond=0)
    old_job = SeoBatchJob.create(model="claude-sonnet-4-5", created_at=now - timedelta(days=1, hours=1))
    new_job = SeoBatchJob.create(model="claude-sonnet-4-5", created_at=now - timedelta(hours=1))
    Page.create(url="https://example.com/old", seo_title="Old", seo_generated_at=now - timedelta(days=1))
    Page.create(url="https://example.com/new", seo_title="New", seo_generated_at=now - timedelta(minutes=30))
    Page.create(url="https://example.com/never")

    def urls(**options) -> list[str]:
        out = io.StringIO()
        export_pages(stream=out, **options)
        return [json.loads(line)["url"] for line in out.getvalue().splitlines()]

    assert urls() == ["https://example.com/old", "https://example.com/new", "https://example.com/never"]
    assert urls(since=now - timedelta(hours=2)) == ["https://example.com/new"]
    assert urls(since=parse_since((now - timedelta(days=2)).isoformat() + "+00:00")) == [
        "https://example.com/old", "https://example.com/new"]
    assert urls(since_job=new_job.id) == ["https://example.com/new"]
    assert urls(since_job=old_job.id) == ["https://example.com/old", "https://example.com/new"]
    with pytest.raises(InputError, match="no job with id 999"):
        urls(since_job=999)


def test_parse_since_takes_dates_times_and_offsets_as_utc():
    from datetime import datetime

    assert parse_since("2026-12-01") == datetime(2026, 12, 1)
    assert parse_since("2026-12-01T02:00Z") == datetime(2026, 12, 1, 2, 0)
    assert parse_since("2026-12-01T03:00+01:00") == datetime(2026, 12, 1, 2, 0)
    with pytest.raises(InputError, match="ISO 8601"):
        parse_since("yesterday")
