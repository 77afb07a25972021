"""The optional h1 column: read from the file, else from HTML content; stored; upgraded."""

from __future__ import annotations

import io
import json

import peewee

from seobatch import schema
from seobatch.db import database
from seobatch.models import Page
from seobatch.page_files import PageRow, read_rows
from seobatch.pages.importing import import_pages


def rows(fmt: str, data: bytes) -> list[PageRow]:
    out = list(read_rows(f"pages.{fmt}", fmt, io.BytesIO(data)))
    assert all(isinstance(r, PageRow) for r in out), out
    return out  # type: ignore[return-value]


def test_the_h1_column_is_a_page_field_not_an_attribute():
    (jsonl,) = rows("jsonl", json.dumps({"url": "https://x.example/a", "h1": "  Ridgeline\n boot ", "lang": "en"}).encode())
    assert jsonl.h1 == "Ridgeline boot" and jsonl.attributes == {"lang": "en"}
    (csv_row,) = rows("csv", b"url,H1,title\nhttps://x.example/a,Ridgeline boot,Boot\n")
    assert csv_row.h1 == "Ridgeline boot" and csv_row.attributes is None


def test_without_the_column_the_h1_comes_from_html_content():
    content = "<header><h1 class='t'>Ridgeline <em>GTX</em>\n boot</h1></header><h1>Second</h1><p>Text</p>"
    (row,) = rows("jsonl", json.dumps({"url": "https://x.example/a", "content": content}).encode())
    assert row.h1 == "Ridgeline GTX boot"
    (explicit,) = rows("jsonl", json.dumps({"url": "https://x.example/a", "h1": "Given", "content": content}).encode())
    assert explicit.h1 == "Given"
    (plain,) = rows("jsonl", json.dumps({"url": "https://x.example/a", "content": "No heading here"}).encode())
    assert plain.h1 is None


def test_a_bad_h1_names_the_field():
    (error,) = list(read_rows("p.jsonl", "jsonl", io.BytesIO(json.dumps({"url": "https://x.example/a", "h1": 3}).encode())))
    assert not isinstance(error, PageRow) and error.field == "h1"


def test_import_stores_the_h1_and_a_changed_h1_is_an_update(any_db, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"url": "https://x.example/a", "content": "<h1>Boot</h1><p>x</p>"}) + "\n")
    assert import_pages(str(path)).new == 1
    assert Page.get(Page.url == "https://x.example/a").h1 == "Boot"
    assert import_pages(str(path)).unchanged == 1
    path.write_text(json.dumps({"url": "https://x.example/a", "h1": "Hiking boot",
                                "content": "<h1>Boot</h1><p>x</p>"}) + "\n")
    assert import_pages(str(path)).updated == 1
    assert Page.get(Page.url == "https://x.example/a").h1 == "Hiking boot"


def test_a_version_2_database_gets_the_column_and_keeps_its_rows(any_db):
    Page.create(url="https://x.example/old", title="Old", content="c")
    database.execute_sql("ALTER TABLE seo_pages DROP COLUMN h1")
    schema.SchemaVersion.delete().execute()
    schema.SchemaVersion.create(version=2)  # as a database made before the column was
    assert schema.current_version() == 2
    assert schema.init_db() == (2, schema.SCHEMA_VERSION)
    old = Page.get(Page.url == "https://x.example/old")
    assert old.title == "Old" and old.h1 is None
    assert schema.init_db() == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)  # twice is safe
    assert isinstance(Page.h1, peewee.TextField)
