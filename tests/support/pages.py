"""The one page seeder (saved pages with deterministic URLs, titles and text), and the page
files the import/export tests write and read."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seobatch.db import utcnow
from seobatch.models import Page

_KINDS = ("oak chair", "linen shirt", "café guide", "tea kettle", "road bike")


def _uniform(i: int) -> tuple[str, str, str]:
    return (
        f"https://shop.example.com/p/{i}",
        f"Hand-made oak chair model {i}",
        f"The oak chair model {i} is made by hand in our workshop from local oak. " * 3,
    )


def _varied(i: int) -> tuple[str, str, str]:
    # The fault suite's golden runs compare against this exact text: do not change it.
    kind = _KINDS[i % len(_KINDS)]
    return (
        f"https://shop.example.com/{kind.replace(' ', '-')}/{i}",
        f"The {kind} n°{i} — “handmade” & tested",
        f"Our {kind} number {i} is made in small batches. " * 4 + "Prices include VAT.",
    )


def _save(n: int, start: int, text: Callable[[int], tuple[str, str, str]], **fields: Any) -> list[Page]:
    """The page factory: ``n`` pages numbered from ``start``, text from ``text(i)``."""
    pages = []
    for i in range(start, start + n):
        url, title, content = text(i)
        page = Page(url=url, title=title, content=content, **fields)
        page.save()
        pages.append(page)
    return pages


def make_pages(n: int, start: int = 1, **fields: Any) -> list[Page]:
    """``n`` saved pages with distinct URLs and titles (and enough text to describe)."""
    return _save(n, start, _uniform, **fields)


def seed_pages(n: int, start: int = 1) -> list[int]:
    """``n`` pages with varied but deterministic text (accents, quotes, &); returns their ids."""
    return [page.id for page in _save(n, start, _varied)]


# -- page files ---------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def read_export(path: Path) -> list[dict]:
    """Rows of an exported file, read by what its bytes are (not by its name)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    if text.startswith("{"):
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


#: (url, title, seo_title, seo_description): what a CSV or a spreadsheet could get wrong.
TRICKY = [
    ("https://example.com/1", 'He said "hi", then left', "=HYPERLINK(\"http://evil\")", "Line one\nline two, with comma"),
    ("https://example.com/2", "+1 offer", "@SUM(A1:A2)", "-2 degrees; \"cold\"\r\nnext"),
    ("https://example.com/3", "Plain title", "Über Größe – 日本語", " =leading space formula"),
    ("https://example.com/4", None, None, None),
]


def seed_export_pages() -> None:
    """The ``TRICKY`` pages: quotes, formulas, newlines, non-ASCII, and one with nothing."""
    generated = utcnow().replace(microsecond=0)
    for url, title, seo_title, seo_description in TRICKY:
        Page.create(url=url, title=title, seo_title=seo_title, seo_description=seo_description,
                    seo_model="claude-sonnet-4-5" if seo_title else None,
                    seo_generated_at=generated if seo_title else None)


def seed_site(n: int = 6) -> list[Page]:
    """``n`` bare pages ``https://example.com/0…``, inserted in one statement, by id."""
    Page.insert_many([{"url": f"https://example.com/{i}", "content_hash": "h"} for i in range(n)]).execute()
    return list(Page.select().order_by(Page.id))
