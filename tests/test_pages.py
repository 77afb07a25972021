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

from tests.support.pages import make_pages
from tests.support.pipeline import drive, make_settings

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
        json.dumps({"url": "https://example.com/big", "content": "word " * 400}),
        "",
        json.dumps({"url": "https://example.com/fine2", "content": "nul\u0000 removed"}),
    ]
    path.write_bytes("\n".join(lines).encode() + b"\n" + b'{"url": "https://example.com/\xff"}\n')
    errors: list[InputError] = []
    warnings: list[InputError] = []
    summary = pages.import_pages(
        str(path), max_content_bytes=1000, on_error=errors.append, on_warning=warnings.append
    )
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
        f"{f}:10: duplicate url: an earlier line of this file has the same page "
        "(https://example.com/ok); this row is ignored (field 'url')",
        f"{f}:14: not valid UTF-8 (byte 0xff at column 30)",
    ]
    # Content over the limit is cut at a word boundary, not rejected (finding 15)
    assert [str(w) for w in warnings] == [
        f"{f}:11: content is 2,000 bytes; cut at a word boundary to the 1,000-byte limit (field 'content')"
    ]
    assert Page.get(Page.url == "https://example.com/big").content == ("word " * 200).strip()
    assert (errors[0].line, errors[3].field) == (2, "url")
    assert summary.rejected == 10 and summary.new == 3
    assert summary.describe() == (
        "imported 3 new, updated 0, unchanged 0, rejected 10, 1 warning (see errors above)"
    )
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
    summary = pages.import_pages(str(path), max_row_bytes=100_000, on_error=errors.append)
    assert str(errors[0]) == f"{path}:1: line is longer than one row may be (100,000 bytes)"
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


# -- file names and formats (finding 6) ---------------------------------------------------------


def read_export(path: Path) -> list[dict]:
    """Rows of an exported file, read by what its bytes are (not by its name)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    if text.startswith("{"):
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("name", "gzipped", "is_csv"),
    [("out.csv", False, True), ("out.csv.gz", True, True), ("out.jsonl", False, False),
     ("out.jsonl.gz", True, False), ("OUT.CSV.GZ", True, True)],
)
def test_export_writes_the_format_its_file_name_says(any_db, tmp_path, name, gzipped, is_csv):
    seed_export_pages()
    path = tmp_path / name
    assert pages.export_pages(str(path)) == 4
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
        pages.export_pages(str(tmp_path / name))
    assert not (tmp_path / name).exists() and not list(tmp_path.glob(".*.tmp"))


def test_export_refuses_a_format_that_contradicts_the_file_name(any_db, tmp_path):
    with pytest.raises(InputError, match="the file name says csv but --format says jsonl"):
        pages.export_pages(str(tmp_path / "out.csv"), fmt="jsonl")


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.jsonl", "p.jsonl.gz", "P.JSONL.GZ"])
def test_an_export_reads_back_in_each_of_the_four_formats(any_db, tmp_path, name):
    # Given pages with attributes of their own, exported
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"url": "https://example.com/a", "title": "A", "content": "x", "cms_id": "7", "sku": "A-1"},
        {"url": "https://example.com/b", "title": "B", "content": "y"},
    ])
    pages.import_pages(str(path))
    Page.update(seo_title="Generated").execute()
    assert pages.export_pages(str(tmp_path / name)) == 2
    # When the export is imported
    summary = pages.import_pages(str(tmp_path / name))
    # Then every row reads back, and the seo_* columns are not taken as page attributes
    assert (summary.imported, summary.rejected, Page.select().count()) == (2, 0, 2)
    assert Page.get(Page.url == "https://example.com/a").attributes == {"cms_id": "7", "sku": "A-1"}
    assert Page.get(Page.url == "https://example.com/b").attributes is None


def test_import_names_the_accepted_endings_and_explains_json(tmp_path):
    with pytest.raises(InputError, match=r"name it \.csv, \.csv\.gz, \.jsonl or \.jsonl\.gz.*"
                                         r"a \.json file is one JSON document"):
        pages.import_pages(str(tmp_path / "pages.json"))


def test_cli_export_to_an_unknown_extension_is_one_error_line(cli_env, tmp_path, capsys):
    assert main(["pages", "export", str(tmp_path / "out.xlsx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"seobatch: error: {tmp_path / 'out.xlsx'}: cannot tell the export format")
    assert err.count("\n") == 1 and not (tmp_path / "out.xlsx").exists()


# -- the import's own columns and "what changed" in the export (finding 19) -----------------------


def seed_with_attributes() -> None:
    Page.create(url="https://example.com/1", title="One", seo_title="S1",
                attributes={"cms_id": 101, "sku": "=SKU-1", "tags": ["a", "b"]})
    Page.create(url="https://example.com/2", title="Two", attributes={"language": "de", "seo_title": "mine"})
    Page.create(url="https://example.com/3", title="Three")


def test_csv_export_keeps_the_imports_own_columns_after_the_seo_fields(any_db, tmp_path):
    seed_with_attributes()
    path = tmp_path / "out.csv"
    pages.export_pages(str(path))
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    # The attribute names of every page, in name order; one that clashes with an export
    # column is prefixed; lists are JSON; formulas are defused in these cells too
    assert rows[0] == [*pages.EXPORT_FIELDS, "attributes.seo_title", "cms_id", "language", "sku", "tags"]
    assert rows[1][6:] == ["", "101", "", "'=SKU-1", '["a", "b"]']
    assert rows[2][2] == "" and rows[2][6:] == ["mine", "", "de", "", ""]
    assert rows[3][6:] == ["", "", "", "", ""]


def test_jsonl_export_keeps_the_imports_own_columns_and_can_leave_them_out(any_db):
    seed_with_attributes()
    out = io.StringIO()
    pages.export_pages(stream=out)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["cms_id"], first["sku"], first["tags"]) == (101, "=SKU-1", ["a", "b"])
    assert (second["seo_title"], second["attributes.seo_title"], second["language"]) == (None, "mine", "de")
    assert list(third) == list(pages.EXPORT_FIELDS)
    out = io.StringIO()
    pages.export_pages(stream=out, fmt="csv", attributes=False)
    assert out.getvalue().splitlines()[0] == ",".join(pages.EXPORT_FIELDS)


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
        pages.export_pages(stream=out, **options)
        return [json.loads(line)["url"] for line in out.getvalue().splitlines()]

    assert urls() == ["https://example.com/old", "https://example.com/new", "https://example.com/never"]
    assert urls(since=now - timedelta(hours=2)) == ["https://example.com/new"]
    assert urls(since=pages.parse_since((now - timedelta(days=2)).isoformat() + "+00:00")) == [
        "https://example.com/old", "https://example.com/new"]
    assert urls(since_job=new_job.id) == ["https://example.com/new"]
    assert urls(since_job=old_job.id) == ["https://example.com/old", "https://example.com/new"]
    with pytest.raises(InputError, match="no job with id 999"):
        urls(since_job=999)


def test_parse_since_takes_dates_times_and_offsets_as_utc():
    from datetime import datetime

    assert pages.parse_since("2026-12-01") == datetime(2026, 12, 1)
    assert pages.parse_since("2026-12-01T02:00Z") == datetime(2026, 12, 1, 2, 0)
    assert pages.parse_since("2026-12-01T03:00+01:00") == datetime(2026, 12, 1, 2, 0)
    with pytest.raises(InputError, match="ISO 8601"):
        pages.parse_since("yesterday")


def test_cli_export_since_job_to_a_gzipped_csv(cli_env, tmp_path, capsys):
    job = SeoBatchJob.create(model="claude-sonnet-4-5")
    Page.create(url="https://example.com/a", seo_title="A", seo_generated_at=utcnow(), attributes={"cms_id": "9"})
    Page.create(url="https://example.com/b")
    target = tmp_path / "tonight.csv.gz"
    assert main(["pages", "export", str(target), "--since-job", str(job.id)]) == 0
    assert capsys.readouterr().out == f"exported 1 page to {target}\n"
    [row] = read_export(target)
    assert (row["url"], row["cms_id"]) == ("https://example.com/a", "9")
    with pytest.raises(SystemExit) as usage:  # a usage error, before any work
        main(["pages", "export", "--since", "soon"])
    assert usage.value.code == 2
    assert "argument --since: expected an ISO 8601 date" in capsys.readouterr().err


# -- CSV quotes that never close (finding 16) ------------------------------------------------------


BROKEN_CSV = (
    "url,title,content\n"
    "https://a.example.com/1,One,Content one\n"
    'https://a.example.com/2,"Page two with unclosed quote,Content two\n'
    "https://a.example.com/3,Three,Content three\n"
    "not a url,Four,Content four\n"
    "https://a.example.com/5,Five,Content five,extra\n"
    "https://a.example.com/6,Six,Content six\n"
)


def test_an_unclosed_csv_quote_is_reported_at_its_line_and_the_rest_is_read(any_db, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text(BROKEN_CSV, encoding="utf-8")
    errors: list[InputError] = []
    summary = pages.import_pages(str(path), on_error=errors.append)
    f = str(path)
    # The broken row is named at its line; every row after it is imported or reported
    assert [str(e) for e in errors] == [
        f"{f}:3: unclosed quote: the quoted field never ends (it runs to the end of the file, "
        "line 7); this row is skipped; lines 4–7 are read again as rows",
        f"{f}:5: url must be an absolute http(s) URL, got 'not a url' (field 'url')",
        f"{f}:6: row has 4 fields, the header has 3",
    ]
    assert (summary.new, summary.rejected) == (3, 3)
    assert sorted(p.url for p in Page.select()) == [
        "https://a.example.com/1", "https://a.example.com/3", "https://a.example.com/6"]


def test_an_unclosed_quote_in_a_big_file_stops_at_the_row_limit_and_reading_goes_on(any_db, tmp_path):
    # Given a quote that never closes followed by more text than one row may hold
    path = tmp_path / "big.csv"
    rows = "".join(f"https://a.example.com/{i},Title {i},{'text ' * 40}\n" for i in range(3, 400))
    path.write_text(
        'url,title,content\nhttps://a.example.com/1,One,x\nhttps://a.example.com/2,"Unclosed,x\n' + rows,
        encoding="utf-8",
    )
    errors: list[InputError] = []
    # When the file is read with a row limit of 20 kB (the field reaches it after ~100 lines)
    summary = pages.import_pages(str(path), max_row_bytes=20_000, on_error=errors.append)
    # Then the broken row is reported once, at its line, and every later row is imported
    assert len(errors) == 1 and errors[0].line == 3
    assert "field larger than field limit" in str(errors[0]) and "a quote that never closes?" in str(errors[0])
    assert summary.new == 1 + 397


def test_a_csv_row_over_the_row_limit_is_rejected_unread_and_the_next_row_imported(any_db, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "url,content\nhttps://a.example.com/1," + "x" * 50_000 + "\nhttps://a.example.com/2,ok\n",
        encoding="utf-8",
    )
    errors: list[InputError] = []
    summary = pages.import_pages(str(path), max_row_bytes=10_000, on_error=errors.append)
    assert [str(e) for e in errors] == [f"{path}:2: line 2 is longer than one row may be (10,000 bytes)"]
    assert summary.new == 1 and Page.get().url == "https://a.example.com/2"


def test_an_unclosed_quote_in_the_header_is_refused(any_db, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('url,"title\nhttps://a.example.com/1,x\n', encoding="utf-8")
    with pytest.raises(InputError, match="h.csv:1: bad CSV header: a quote that never closes"):
        pages.import_pages(str(path))


# -- size limits (finding 15) -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_content_over_the_limit_is_cut_at_a_word_and_the_page_imported(any_db, tmp_path, fmt):
    # Given 5 MB of content, which the old limits rejected
    content = "Ünïcode words " * 380_000
    path = tmp_path / f"big.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, [{"url": "https://example.com/big", "content": content}])
    else:
        write_csv(path, [["url", "content"], ["https://example.com/big", content]])
    warnings: list[InputError] = []
    summary = pages.import_pages(str(path), on_warning=warnings.append)
    assert (summary.new, summary.rejected, summary.warnings) == (1, 0, 1)
    stored = Page.get().content
    assert len(stored.encode("utf-8")) <= pages.MAX_CONTENT_BYTES
    assert content.startswith(stored) and stored.endswith("words")
    assert "cut at a word boundary to the 1,000,000-byte limit" in str(warnings[0])


def test_cut_at_word_keeps_whole_characters_and_words():
    from seobatch.page_files import cut_at_word

    assert cut_at_word("alpha beta gamma", 12) == "alpha beta"
    assert cut_at_word("日本語のテキスト", 7) == "日本"  # 3 bytes a character, never half of one
    assert cut_at_word("x" * 5000, 100) == "x" * 100  # one very long "word" is cut inside


# -- one spelling of a url (finding 17) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://E.Example.COM/Path", "https://e.example.com/Path"),
        ("https://e.example.com", "https://e.example.com/"),
        ("https://e.example.com:443/x", "https://e.example.com/x"),
        ("http://e.example.com:80/x", "http://e.example.com/x"),
        ("https://e.example.com:8443/x", "https://e.example.com:8443/x"),
        ("http://e.example.com:443/x", "http://e.example.com:443/x"),
        ("https://e.example.com/x#section-2", "https://e.example.com/x"),
        ("https://e.example.com/x?utm_source=a&UTM_Medium=b&id=5&gclid=1&fbclid=2", "https://e.example.com/x?id=5"),
        ("https://e.example.com/x?b=2&a=1&srsltid=xyz", "https://e.example.com/x?b=2&a=1"),
        ("https://e.example.com/x/", "https://e.example.com/x/"),
        ("https://user@E.example.com/x", "https://user@e.example.com/x"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
    ],
)
def test_normal_url(url, normal):
    from seobatch.page_files import normal_url

    assert normal_url(url) == normal
    assert normal_url(normal) == normal


def test_url_variants_of_one_page_are_one_page_and_a_trailing_slash_is_a_warning(any_db, tmp_path):
    path = write_jsonl(tmp_path / "dups.jsonl", [
        {"url": "https://e.example.com/x", "title": "First"},
        {"url": "https://e.example.com/x/"},
        {"url": "HTTPS://E.example.com/x"},
        {"url": "https://e.example.com/x?utm_source=a"},
        {"url": "https://e.example.com/x#frag"},
        {"url": "https://e.example.com:443/x"},
    ])
    errors: list[InputError] = []
    warnings: list[InputError] = []
    summary = pages.import_pages(str(path), on_error=errors.append, on_warning=warnings.append)
    assert sorted(p.url for p in Page.select()) == ["https://e.example.com/x", "https://e.example.com/x/"]
    assert Page.get(Page.url == "https://e.example.com/x").title == "First"
    assert [e.line for e in errors] == [3, 4, 5, 6] and all("duplicate url" in str(e) for e in errors)
    assert [w.line for w in warnings] == [2] and "differ only by the trailing '/'" in str(warnings[0])
    assert (summary.new, summary.rejected, summary.duplicates) == (2, 4, 4)


def test_check_urls_counts_the_stored_urls_a_migration_would_change(any_db):
    # Given rows stored before the rule: one merges with a stored page, one only changes
    for url in ["https://e.example.com/a", "HTTPS://E.example.com/a", "https://e.example.com/b#top",
                "https://e.example.com/c"]:
        Page.insert(url=url, content_hash="h").execute()
    report = pages.check_urls(chunk_size=2)
    assert (report.pages, report.not_normal, report.collide) == (4, 2, 1)
    assert report.examples == [("HTTPS://E.example.com/a", "https://e.example.com/a"),
                               ("https://e.example.com/b#top", "https://e.example.com/b")]
    assert report.describe() == "2 of 4 pages have a url that is not in normal form (1 of them share it with another page)"


# -- deleting pages that left the site (finding 27) ---------------------------------------------


def seed_site(n: int = 6) -> list[Page]:
    Page.insert_many([{"url": f"https://example.com/{i}", "content_hash": "h"} for i in range(n)]).execute()
    return list(Page.select().order_by(Page.id))


def hold_in_job(page: Page, status: str) -> SeoBatchJob:
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status=status)
    SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id))
    return job


def test_delete_by_url_keeps_pages_an_active_job_holds(any_db):
    site = seed_site()
    active = hold_in_job(site[1], "processing")
    hold_in_job(site[2], "completed")
    summary = pages.delete_pages(
        ["https://example.com/0", "https://example.com/1", "HTTPS://EXAMPLE.com/2#x", "https://example.com/nope"]
    )
    assert (summary.deleted, summary.busy, summary.not_found) == (2, 1, 1)
    assert summary.describe() == (
        "deleted 2 pages; kept 1 page that active jobs hold (run it again once they have ended); "
        "1 listed url(s) match no page"
    )
    assert sorted(p.url for p in Page.select()) == [f"https://example.com/{i}" for i in (1, 3, 4, 5)]
    # The active job keeps its item; the finished job's item went with its page
    assert [i.job_id for i in SeoBatchItem.select()] == [active.id]


def test_delete_missing_removes_the_pages_not_on_the_site_in_bulk(queries):
    site = seed_site(2500)
    hold_in_job(site[2401], "collecting")  # an odd page: not on the site, but held
    keep = pages.url_keys(f"https://example.com/{i}" for i in range(0, 2500, 2))  # the even pages stay
    queries.clear()
    summary = pages.delete_missing(keep, chunk_size=1000)
    # Per chunk of 1000: read the chunk, the active jobs, their items among it, one DELETE
    # (and the collectors' advisory lock on PostgreSQL); never a statement per page
    data = [q for q in queries if "pg_advisory_xact_lock" not in q]
    assert len(data) == 3 * 4 and sum(q.startswith("DELETE") for q in data) == 3, "\n".join(data)
    assert (summary.deleted, summary.busy) == (1249, 1)
    assert Page.select().count() == 1251


def test_a_dry_run_counts_and_deletes_nothing(any_db):
    seed_site(4)
    summary = pages.delete_missing(pages.url_keys(["https://example.com/0"]), dry_run=True)
    assert summary.describe() == "would delete 3 pages" and Page.select().count() == 4


def test_import_prune_deletes_the_pages_not_in_the_file(any_db, tmp_path):
    seed_site(4)
    hold_in_job(Page.get(Page.url == "https://example.com/3"), "submitting")
    path = write_jsonl(tmp_path / "site.jsonl", [{"url": "https://example.com/0"}, {"url": "https://example.com/9"},
                                                 {"url": "https://example.com/0"}])
    summary = pages.import_pages(str(path), prune=True)
    assert summary.pruned is not None and (summary.pruned.deleted, summary.pruned.busy) == (2, 1)
    assert sorted(p.url for p in Page.select()) == [
        "https://example.com/0", "https://example.com/3", "https://example.com/9"]
    assert summary.describe().endswith(
        "; prune: deleted 2 pages; kept 1 page that active jobs hold (run it again once they have ended)")


def test_import_prune_deletes_nothing_when_a_row_was_rejected(any_db, tmp_path):
    seed_site(3)
    path = tmp_path / "site.jsonl"
    path.write_text('{"url": "https://example.com/0"}\n{"url": "https://example.com/1", \n', encoding="utf-8")
    summary = pages.import_pages(str(path), prune=True)
    assert summary.pruned is None and Page.select().count() == 3
    assert "prune: nothing deleted, 1 rejected row(s) may be pages still on the site" in summary.describe()


def test_cli_delete_by_list_and_missing_from(cli_env, tmp_path, capsys):
    seed_site(5)
    gone = tmp_path / "gone.txt"
    gone.write_text("# left the site\nhttps://example.com/0\n\nnot a url\n", encoding="utf-8")
    assert main(["pages", "delete", str(gone)]) == 1  # a bad line: reported, the rest deleted
    out, err = capsys.readouterr()
    assert out == "deleted 1 page\n"
    assert err == f"seobatch: {gone}:4: url must be an absolute http(s) URL, got 'not a url' (field 'url')\n"
    site = write_csv(tmp_path / "site.csv", [["url"], ["https://example.com/1"], ["https://example.com/2"]])
    assert main(["pages", "delete", "--missing-from", str(site), "--dry-run"]) == 0
    assert capsys.readouterr().out == "would delete 2 pages\n"
    assert main(["pages", "delete", "--missing-from", str(site)]) == 0
    assert sorted(p.url for p in Page.select()) == ["https://example.com/1", "https://example.com/2"]
    # A site file with an unreadable line deletes nothing
    bad = write_csv(tmp_path / "bad.csv", [["url"], ["https://example.com/1"], ["nope"]])
    capsys.readouterr()
    assert main(["pages", "delete", "--missing-from", str(bad)]) == 1
    assert "nothing was deleted" in capsys.readouterr().err and Page.select().count() == 2
    assert main(["pages", "delete"]) == 1
    assert "one of the two" in capsys.readouterr().err


def test_cli_import_prune_and_check_urls(cli_env, tmp_path, capsys):
    Page.insert(url="HTTPS://EXAMPLE.com/old", content_hash="h").execute()
    assert main(["pages", "check-urls"]) == 0
    assert capsys.readouterr().out == (
        "1 of 1 page have a url that is not in normal form (0 of them share it with another page)\n"
        "  HTTPS://EXAMPLE.com/old  →  https://example.com/old\n"
    )
    path = write_jsonl(tmp_path / "site.jsonl", [{"url": "HTTPS://EXAMPLE.com/old"}])
    assert main(["pages", "import", str(path), "--prune"]) == 0
    assert capsys.readouterr().out == "imported 1 new, updated 0, unchanged 0, rejected 0; prune: deleted 1 page\n"
    assert [p.url for p in Page.select()] == ["https://example.com/old"]


def test_deleting_the_pages_of_a_running_job_keeps_them_and_the_job_ends_whole(any_db, emulator):
    # Given a job that holds 10 pages at the provider

    from seobatch.stages import Step
    from seobatch.stages.collect import collect
    from seobatch.stages.kickoff import kickoff
    from seobatch.stages.submit import submit

    settings = make_settings(emulator)
    site = make_pages(10)
    running = kickoff(settings=settings).job
    assert collect(running.id, settings=settings) == [Step("submit", running.id)]
    steps = submit(running.id, settings=settings)
    assert SeoBatchJob.get_by_id(running.id).status == "processing"
    # When the site file no longer has them
    summary = pages.delete_pages(p.url for p in site)
    # Then none is deleted while the job runs, and the job ends with all ten
    assert (summary.deleted, summary.busy) == (0, 10)
    drive(steps, settings)
    done = SeoBatchJob.get_by_id(running.id)
    assert (done.status, done.succeeded_count) == ("completed", 10)
    # And once it has ended they can go
    assert pages.delete_pages(p.url for p in site).deleted == 10
    assert Page.select().count() == 0 and SeoBatchItem.select().count() == 0


def test_a_gz_file_that_is_not_gzip_or_is_cut_short_is_one_input_error(any_db, tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b"not gzip at all\n")
    with pytest.raises(InputError, match=r"fake.jsonl.gz: cannot read the file: Not a gzipped file"):
        pages.import_pages(str(fake))
    rows = b"".join(json.dumps({"url": f"https://example.com/{i}"}).encode() + b"\n" for i in range(3000))
    whole = gzip.compress(rows)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut short|ended before.*; the 1000 row\(s\) before it were imported"):
        pages.import_pages(str(cut), chunk_size=1000)
