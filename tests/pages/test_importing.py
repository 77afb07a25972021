"""Page import on SQLite and PostgreSQL: bulk upserts, bad rows reported at their line, size limits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import seobatch
from seobatch.errors import InputError
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.page_files import MAX_CONTENT_BYTES
from seobatch.pages.importing import import_pages

from tests.support.pages import write_csv, write_jsonl

HOSTILE = "'; DROP TABLE seo_pages;-- \" ) OR 1=1 %s %(x)s ? $1 \\ `"


def test_jsonl_rows_become_pages_with_their_hash_and_attributes(any_db, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": "https://example.com/a", "title": "A", "content": "Alpha", "language": "en"},
        {"url": "https://example.com/b", "content": "Beta", "attributes": {"section": "blog"}, "tags": ["x"]},
        {"url": "https://example.com/c"},
    ])
    summary = import_pages(str(path))
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
    summary = import_pages(str(path))
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
    import_pages(str(first))
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
    summary = import_pages(str(second))
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
    summary = import_pages(
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
    summary = import_pages(str(path), on_error=errors.append)
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
        import_pages(str(path))
    assert Page.select().count() == 0


def test_missing_files_and_unknown_formats_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: no such file"):
        import_pages(str(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="cannot tell the format"):
        import_pages(str(tmp_path / "pages.txt"))


def test_import_names_the_accepted_endings_and_explains_json(tmp_path):
    with pytest.raises(InputError, match=r"name it \.csv, \.csv\.gz, \.jsonl or \.jsonl\.gz.*"
                                         r"a \.json file is one JSON document"):
        import_pages(str(tmp_path / "pages.json"))


def test_a_line_longer_than_the_limit_is_rejected_without_reading_it_whole(any_db, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": "https://example.com/huge", "content": "x" * 150_000},
        {"url": "https://example.com/next"},
    ])
    errors: list[InputError] = []
    summary = import_pages(str(path), max_row_bytes=100_000, on_error=errors.append)
    assert str(errors[0]) == f"{path}:1: line is longer than one row may be (100,000 bytes)"
    assert summary.new == 1


def test_gzipped_files_are_read(any_db, tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({"url": "https://example.com/gz"}) + "\n")
    assert import_pages(str(path)).new == 1


def test_a_gz_file_that_is_not_gzip_or_is_cut_short_is_one_input_error(any_db, tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b"not gzip at all\n")
    with pytest.raises(InputError, match=r"fake.jsonl.gz: cannot read the file: Not a gzipped file"):
        import_pages(str(fake))
    rows = b"".join(json.dumps({"url": f"https://example.com/{i}"}).encode() + b"\n" for i in range(3000))
    whole = gzip.compress(rows)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut short|ended before.*; the 1000 row\(s\) before it were imported"):
        import_pages(str(cut), chunk_size=1000)


def test_sql_metacharacters_are_stored_verbatim(any_db, tmp_path):
    url = "https://example.com/?q=%27;DROP%20TABLE"
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"url": url, "title": HOSTILE, "content": HOSTILE * 3, HOSTILE: HOSTILE},
    ])
    assert import_pages(str(path)).new == 1
    page = Page.get(Page.url == url)
    assert (page.title, page.content, page.attributes) == (HOSTILE, HOSTILE * 3, {HOSTILE: HOSTILE})
    assert Page.select().count() == 1  # the table is still there


def test_import_writes_in_chunks_never_a_query_per_row(queries, tmp_path):
    rows = [{"url": f"https://example.com/{i}", "title": f"T{i}"} for i in range(2500)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    queries.clear()
    summary = import_pages(str(path), chunk_size=1000)
    assert summary.new == 2500
    # 3 chunks × (one SELECT of known urls + one INSERT … ON CONFLICT)
    assert len(queries) == 6, queries
    assert sum(q.startswith("INSERT") for q in queries) == 3
    assert all("ON CONFLICT" in q for q in queries if q.startswith("INSERT"))
    # Re-importing the same file writes nothing: only the three SELECTs.
    queries.clear()
    assert import_pages(str(path), chunk_size=1000).unchanged == 2500
    assert len(queries) == 3


def test_items_and_jobs_are_untouched_by_an_import(any_db, tmp_path):
    page = Page.create(url="https://example.com/a", title="A", content="x")
    job = SeoBatchJob.create(model="claude-sonnet-4-5")
    SeoBatchItem.create(job=job, page=page, custom_id="p1")
    import_pages(str(write_jsonl(tmp_path / "p.jsonl", [{"url": "https://example.com/a", "title": "B"}])))
    assert SeoBatchItem.select().count() == 1
    assert Page.get_by_id(page.id).title == "B"


# -- the demo's sample pages ------------------------------------------------------------------


SAMPLE = Path(seobatch.__file__).parent / "data" / "sample_pages.jsonl"


def test_the_sample_pages_import_cleanly_and_are_varied(any_db):
    summary = import_pages(str(SAMPLE))
    assert summary.rejected == 0 and summary.new >= 30
    languages = {p.attributes.get("language") for p in Page.select() if p.attributes}
    assert len(languages) >= 5
    assert Page.select().where(Page.content.contains("<p>")).count() >= 2


# -- CSV quotes that never close (finding 16) -------------------------------------------------


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
    summary = import_pages(str(path), on_error=errors.append)
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
    summary = import_pages(str(path), max_row_bytes=20_000, on_error=errors.append)
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
    summary = import_pages(str(path), max_row_bytes=10_000, on_error=errors.append)
    assert [str(e) for e in errors] == [f"{path}:2: line 2 is longer than one row may be (10,000 bytes)"]
    assert summary.new == 1 and Page.get().url == "https://a.example.com/2"


def test_an_unclosed_quote_in_the_header_is_refused(any_db, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('url,"title\nhttps://a.example.com/1,x\n', encoding="utf-8")
    with pytest.raises(InputError, match="h.csv:1: bad CSV header: a quote that never closes"):
        import_pages(str(path))


# -- size limits (finding 15) -----------------------------------------------------------------


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
    summary = import_pages(str(path), on_warning=warnings.append)
    assert (summary.new, summary.rejected, summary.warnings) == (1, 0, 1)
    stored = Page.get().content
    assert len(stored.encode("utf-8")) <= MAX_CONTENT_BYTES
    assert content.startswith(stored) and stored.endswith("words")
    assert "cut at a word boundary to the 1,000,000-byte limit" in str(warnings[0])


# -- one spelling of a url (finding 17) -------------------------------------------------------


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
    summary = import_pages(str(path), on_error=errors.append, on_warning=warnings.append)
    assert sorted(p.url for p in Page.select()) == ["https://e.example.com/x", "https://e.example.com/x/"]
    assert Page.get(Page.url == "https://e.example.com/x").title == "First"
    assert [e.line for e in errors] == [3, 4, 5, 6] and all("duplicate url" in str(e) for e in errors)
    assert [w.line for w in warnings] == [2] and "differ only by the trailing '/'" in str(warnings[0])
    assert (summary.new, summary.rejected, summary.duplicates) == (2, 4, 4)
