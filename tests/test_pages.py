"""Page import and export on SQLite and PostgreSQL: bulk upserts, bad rows, safe output."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from seobatch import db, pages
from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.errors import InputError
from seobatch.models import Page, SeoBatchItem, SeoBatchJob

HOSTILE = "'; DROP TABLE seo_pages;-- \" ) OR 1=1 %s %(x)s ? $1 \\ `"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


@pytest.fixture
def queries(any_db, monkeypatch):
    """Every data statement the database runs (SELECT/INSERT/UPDATE/DELETE)."""
    seen: list[str] = []
    real = db.database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        if sql.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.database.obj, "execute_sql", counting)
    return seen


# -- import -----------------------------------------------------------------------------------


def test_jsonl_rows_become_pages_with_their_hash_and_attributes(any_db, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": "https://example.com/a", "title": "A", "content": "Alpha", "language": "en"},
        {"url": "https://example.com/b", "content": "Beta", "attributes": {"section": "blog"}, "tags": ["x"]},
        {"url": "https://example.com/c"},
    ])
    summary = pages.import_pages(str(path))
    assert (summary.new, summary.updated, summary.unchanged, summary.rejected) == (3, 0, 0, 0)
    a, b, c = Page.select().order_by(Page.url)
    assert (a.title, a.content, a.attributes) == ("A", "Alpha", {"language": "en"})
    assert a.content_hash == Page.hash_content("A", "Alpha", {"language": "en"}) != Page.hash_content("A", "Alpha")
    assert (b.title, b.attributes) == (None, {"section": "blog", "tags": ["x"]})
    assert (c.content, c.attributes, c.seo_attempts) == ("", None, 0)


def test_csv_rows_with_quotes_newlines_and_extra_columns_are_imported(any_db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(
        "\ufeffURL,Title,content,language,empty\r\n"
        'https://example.com/a,"Quotes "" and, commas","line one\nline two",de,\r\n'
        "https://example.com/b,,only content,,\r\n".encode("utf-8")
    )
    summary = pages.import_pages(str(path))
    assert summary.describe() == "imported 2 new, updated 0, unchanged 0, rejected 0"
    a = Page.get(Page.url == "https://example.com/a")
    assert (a.title, a.content, a.attributes) == ('Quotes " and, commas', "line one\nline two", {"language": "de"})
    b = Page.get(Page.url == "https://example.com/b")
    assert (b.title, b.content, b.attributes) == (None, "only content", None)


def test_reimporting_updates_changed_pages_and_leaves_unchanged_ones_alone(any_db, tmp_path):
    first = write_jsonl(tmp_path / "1.jsonl", [
        {"url": "https://example.com/same", "title": "Same", "content": "x", "lang": "en"},
        {"url": "https://example.com/text", "title": "Old", "content": "x"},
        {"url": "https://example.com/attr", "title": "Attr", "content": "x", "lang": "en"},
    ])
    pages.import_pages(str(first))
    # Given pages with generated SEO and failed attempts
    Page.update(seo_title="Kept", seo_attempts=3, seo_last_error="invalid_output: x").execute()
    same_before = Page.get(Page.url == "https://example.com/same").updated_at
    second = write_jsonl(tmp_path / "2.jsonl", [
        {"url": "https://example.com/same", "title": "Same", "content": "x", "lang": "en"},
        {"url": "https://example.com/text", "title": "New", "content": "x"},
        {"url": "https://example.com/attr", "title": "Attr", "content": "x", "lang": "fr"},
        {"url": "https://example.com/fresh"},
    ])
    # When the file is imported again
    summary = pages.import_pages(str(second))
    # Then changed rows are updated (fresh attempts, new hash) and the unchanged one is not written
    assert summary.describe() == "imported 1 new, updated 2, unchanged 1, rejected 0"
    text = Page.get(Page.url == "https://example.com/text")
    assert (text.title, text.content_hash, text.seo_attempts, text.seo_last_error, text.seo_title) == (
        "New", Page.hash_content("New", "x"), 0, None, "Kept"
    )
    assert Page.get(Page.url == "https://example.com/attr").attributes == {"lang": "fr"}
    same = Page.get(Page.url == "https://example.com/same")
    assert (same.seo_attempts, same.updated_at) == (3, same_before)
    assert Page.select().count() == 4


def test_broken_jsonl_rows_are_reported_with_file_line_and_field_and_good_rows_kept(any_db, tmp_path):
    path = tmp_path / "bad.jsonl"
    good = {"url": "https://example.com/ok", "title": "Fine"}
    lines = [
        json.dumps(good),
        '{"url": "https://example.com/x", "title": ',
        "[1, 2]",
        json.dumps({"title": "no url"}),
        json.dumps({"url": 42}),
        json.dumps({"url": "example.com/relative"}),
        json.dumps({"url": "javascript:alert(1)"}),
        json.dumps({"url": "https://example.com/t", "title": ["list"]}),
        json.dumps({"url": "https://example.com/c", "content": {"html": "x"}}),
        json.dumps({"url": "https://example.com/ok", "title": "Duplicate"}),
        json.dumps({"url": "https://example.com/big", "content": "x" * 2000}),
        "",
        json.dumps({"url": "https://example.com/fine2", "content": "nul\u0000 removed"}),
    ]
    path.write_bytes("\n".join(lines).encode() + b"\n" + b'{"url": "https://example.com/\xff"}\n')
    errors: list[InputError] = []
    summary = pages.import_pages(str(path), max_content_bytes=1000, on_error=errors.append)
    f = str(path)
    assert [str(e) for e in errors] == [
        f"{f}:2: bad JSON: Expecting value at column 43",
        f"{f}:3: expected a JSON object, got a list",
        f"{f}:4: missing url (field 'url')",
        f"{f}:5: url must be a string, got a number (field 'url')",
        f"{f}:6: url must be an absolute http(s) URL, got 'example.com/relative' (field 'url')",
        f"{f}:7: url must be an absolute http(s) URL, got 'javascript:alert(1)' (field 'url')",
        f"{f}:8: title must be a string, got a list (field 'title')",
        f"{f}:9: content must be a string, got an object (field 'content')",
        f"{f}:10: duplicate url: an earlier line of this file has it; this row is ignored (field 'url')",
        f"{f}:11: content is 2,000 bytes, over the 1,000 limit (field 'content')",
        f"{f}:14: not valid UTF-8 (byte 0xff at column 30)",
    ]
    assert (errors[0].line, errors[3].field) == (2, "url")
    assert summary.rejected == 11 and summary.new == 2
    assert summary.describe() == "imported 2 new, updated 0, unchanged 0, rejected 11 (see errors above)"
    assert Page.get(Page.url == "https://example.com/ok").title == "Fine"  # first row wins
    assert Page.get(Page.url == "https://example.com/fine2").content == "nul removed"


def test_broken_csv_rows_are_reported_and_good_rows_kept(any_db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"url,title\n"
        b"https://example.com/1,One\n"
        b"https://example.com/2,Two,extra\n"
        b",No url\n"
        b"https://example.com/3,Bad \xff byte\n"
        b'https://example.com/4,"multi\nline"\n'
        b"not a url,Five\n"
    )
    errors: list[InputError] = []
    summary = pages.import_pages(str(path), on_error=errors.append)
    f = str(path)
    assert [str(e) for e in errors] == [
        f"{f}:3: row has 3 fields, the header has 2",
        f"{f}:4: missing url (field 'url')",
        f"{f}:5: not valid UTF-8 (field 'title')",
        f"{f}:8: url must be an absolute http(s) URL, got 'not a url' (field 'url')",
    ]
    assert summary.new == 2
    assert Page.get(Page.url == "https://example.com/4").title == "multi\nline"


def test_a_csv_without_a_url_column_is_refused_before_any_row(any_db, tmp_path):
    path = write_csv(tmp_path / "p.csv", [["link", "title"], ["https://example.com/", "x"]])
    with pytest.raises(InputError, match=r"p.csv:1: the header has no url column \(found: link, title\)"):
        pages.import_pages(str(path))
    assert Page.select().count() == 0


def test_missing_files_and_unknown_formats_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: no such file"):
        pages.import_pages(str(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="cannot tell the format"):
        pages.import_pages(str(tmp_path / "pages.txt"))


def test_a_line_longer_than_the_limit_is_rejected_without_reading_it_whole(any_db, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": "https://example.com/huge", "content": "x" * 150_000},
        {"url": "https://example.com/next"},
    ])
    errors: list[InputError] = []
    summary = pages.import_pages(str(path), max_content_bytes=100, on_error=errors.append)
    assert "line is longer than" in str(errors[0]) and errors[0].line == 1
    assert summary.new == 1


def test_gzipped_files_are_read(any_db, tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({"url": "https://example.com/gz"}) + "\n")
    assert pages.import_pages(str(path)).new == 1


def test_sql_metacharacters_are_stored_verbatim(any_db, tmp_path):
    url = "https://example.com/?q=%27;DROP%20TABLE"
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": url, "title": HOSTILE, "content": HOSTILE * 3, HOSTILE: HOSTILE},
    ])
    assert pages.import_pages(str(path)).new == 1
    page = Page.get(Page.url == url)
    assert (page.title, page.content, page.attributes) == (HOSTILE, HOSTILE * 3, {HOSTILE: HOSTILE})
    assert Page.select().count() == 1  # the table is still there


def test_import_writes_in_chunks_never_a_query_per_row(queries, tmp_path):
    rows = [{"url": f"https://example.com/{i}", "title": f"T{i}"} for i in range(2500)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    queries.clear()
    summary = pages.import_pages(str(path), chunk_size=1000)
    assert summary.new == 2500
    # 3 chunks × (one SELECT of known urls + one INSERT … ON CONFLICT)
    assert len(queries) == 6, queries
    assert sum(q.startswith("INSERT") for q in queries) == 3
    assert all("ON CONFLICT" in q for q in queries if q.startswith("INSERT"))
    # Re-importing the same file writes nothing: only the three SELECTs.
    queries.clear()
    assert pages.import_pages(str(path), chunk_size=1000).unchanged == 2500
    assert len(queries) == 3


# -- export -----------------------------------------------------------------------------------


TRICKY = [
    ("https://example.com/1", 'He said "hi", then left', "=HYPERLINK(\"http://evil\")", "Line one\nline two, with comma"),
    ("https://example.com/2", "+1 offer", "@SUM(A1:A2)", "-2 degrees; \"cold\"\r\nnext"),
    ("https://example.com/3", "Plain title", "Über Größe – 日本語", " =leading space formula"),
    ("https://example.com/4", None, None, None),
]


def seed_export_pages() -> None:
    generated = utcnow().replace(microsecond=0)
    for url, title, seo_title, seo_description in TRICKY:
        Page.create(url=url, title=title, seo_title=seo_title, seo_description=seo_description,
                    seo_model="claude-sonnet-4-5" if seo_title else None,
                    seo_generated_at=generated if seo_title else None)


def test_jsonl_export_round_trips_every_value(any_db):
    seed_export_pages()
    out = io.StringIO()
    assert pages.export_pages(stream=out, fmt="jsonl") == 4
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["url"], r["title"], r["seo_title"], r["seo_description"]) for r in rows] == TRICKY
    assert rows[0]["seo_generated_at"].endswith("Z") and rows[3]["seo_generated_at"] is None
    assert list(rows[0]) == list(pages.EXPORT_FIELDS)


def test_csv_export_is_quoted_and_defuses_formulas(any_db, tmp_path):
    seed_export_pages()
    path = tmp_path / "out.csv"
    assert pages.export_pages(str(path)) == 4
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(pages.EXPORT_FIELDS)
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
    assert pages.export_pages(stream=out, generated_only=True) == 3


def test_export_reads_in_keyset_pages_one_query_per_chunk(queries, tmp_path):
    Page.insert_many(
        [{"url": f"https://example.com/{i}", "content_hash": "h", "content": ""} for i in range(2500)]
    ).execute()
    queries.clear()
    out = io.StringIO()
    assert pages.export_pages(stream=out, chunk_size=1000) == 2500
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
    assert pages.spreadsheet_safe(value) == safe


# -- command line -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(any_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", any_db)
    return any_db


def test_cli_import_prints_errors_and_a_summary_and_exits_1_on_rejects(cli_env, tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", [{"url": "https://example.com/a"}, {"title": "x"}])
    assert main(["pages", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "imported 1 new, updated 0, unchanged 0, rejected 1 (see errors above)\n"
    assert err == f"seobatch: {path}:2: missing url (field 'url')\n"
    assert main(["pages", "import", str(path)]) == 1
    clean = write_jsonl(tmp_path / "clean.jsonl", [{"url": "https://example.com/a"}])
    assert main(["pages", "import", str(clean)]) == 0
    assert capsys.readouterr().out.endswith("imported 0 new, updated 0, unchanged 1, rejected 0\n")


def test_cli_import_of_an_unreadable_file_is_a_one_line_error(cli_env, tmp_path, capsys):
    assert main(["pages", "import", str(tmp_path / "none.csv")]) == 1
    assert capsys.readouterr().err == f"seobatch: error: {tmp_path / 'none.csv'}: no such file\n"
    assert main(["pages", "import", "-"]) == 1
    assert "needs --format" in capsys.readouterr().err


def test_cli_export_writes_csv_to_stdout(cli_env, capsysbinary):
    seed_export_pages()
    assert main(["pages", "export", "--format", "csv"]) == 0
    out, err = capsysbinary.readouterr()
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert rows[0] == list(pages.EXPORT_FIELDS) and len(rows) == 5
    assert b"\r\n" in out
    assert err.decode() == "exported 4 pages\n"


def test_cli_export_to_a_file(cli_env, tmp_path, capsys):
    seed_export_pages()
    target = tmp_path / "seo.jsonl"
    assert main(["pages", "export", str(target)]) == 0
    assert capsys.readouterr().out == f"exported 4 pages to {target}\n"
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4


# -- the demo's sample pages ---------------------------------------------------------------------


SAMPLE = Path(pages.__file__).parent / "data" / "sample_pages.jsonl"


def test_the_sample_pages_import_cleanly_and_are_varied(any_db):
    summary = pages.import_pages(str(SAMPLE))
    assert summary.rejected == 0 and summary.new >= 30
    languages = {p.attributes.get("language") for p in Page.select() if p.attributes}
    assert len(languages) >= 5
    assert Page.select().where(Page.content.contains("<p>")).count() >= 2


def test_items_and_jobs_are_untouched_by_an_import(any_db, tmp_path):
    page = Page.create(url="https://example.com/a", title="A", content="x")
    job = SeoBatchJob.create(model="claude-sonnet-4-5")
    SeoBatchItem.create(job=job, page=page, custom_id="p1")
    pages.import_pages(str(write_jsonl(tmp_path / "p.jsonl", [{"url": "https://example.com/a", "title": "B"}])))
    assert SeoBatchItem.select().count() == 1
    assert Page.get_by_id(page.id).title == "B"
