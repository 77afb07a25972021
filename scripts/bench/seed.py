"""Synthetic pages for the benchmark: about 2.5 KB of varied text each, written fast.

Seeding is set-up, not a measured stage: COPY on PostgreSQL, ``executemany`` on SQLite,
a few thousand rows at a time so memory stays flat at any N.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

from seobatch import db as _db
from seobatch.db import database, utcnow
from seobatch.models import Page

#: Target characters of page text.
CONTENT_CHARS = 2500
#: Rows per COPY / executemany call while seeding.
SEED_CHUNK = 5000

_WORDS = (
    "garden chair table lamp kitchen steel oak linen cotton outdoor indoor compact modern "
    "classic durable light heavy water resistant warranty delivery assembly colour white "
    "black grey green blue natural finish surface cushion frame leg height width depth "
    "weight capacity storage drawer shelf cabinet door handle hinge screw bolt tool kit "
    "season summer winter autumn spring balcony terrace patio lounge dining office study "
    "bedroom bathroom hallway children family guests comfort design quality price offer "
    "model series edition version collection range premium basic standard practical easy "
    "clean care wash dry fold stack carry move fit size measure fabric wood metal glass "
    "ceramic stone plastic recycled sustainable sourced certified tested safety standard"
).split()
_LANGS = ("en", "de", "fr", "es", "nl")


def _sentence_pool(rng: random.Random, size: int = 4000) -> list[str]:
    pool = []
    for _ in range(size):
        words = rng.choices(_WORDS, k=rng.randint(8, 22))
        pool.append(" ".join(words).capitalize() + rng.choice((".", ".", ".", "!", "?")))
    return pool


def synthetic_pages(n: int, *, seed: int = 5) -> Iterator[tuple[Any, ...]]:
    """(url, title, content, attributes JSON, content_hash) for ``n`` varied pages."""
    rng = random.Random(seed)
    pool = _sentence_pool(rng)
    for i in range(1, n + 1):
        parts: list[str] = []
        size = 0
        html = i % 3 == 0  # a third of the pages arrive as HTML paragraphs
        while size < CONTENT_CHARS:
            para = " ".join(rng.choices(pool, k=rng.randint(3, 7)))
            parts.append(f"<p>{para}</p>" if html else para)
            size += len(para) + 1
        content = ("\n" if html else "\n\n").join(parts)
        title = f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} {rng.choice(_WORDS)} no. {i}"
        url = f"https://shop.example/{rng.choice(_WORDS)}/{i}-{rng.choice(_WORDS)}"
        attributes = json.dumps({"language": _LANGS[i % len(_LANGS)], "section": rng.choice(_WORDS)})
        yield url, title, content, attributes, Page.hash_content(title, content)


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    return (
        str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


COPY_PAGES = (
    "COPY seo_pages (url, title, content, attributes, content_hash, seo_attempts, created_at, updated_at) "
    "FROM STDIN"
)
INSERT_PAGES = (
    "INSERT INTO seo_pages (url, title, content, attributes, content_hash, seo_attempts, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
ANALYZE_PAGES = "ANALYZE seo_pages"


def seed_pages(n: int) -> int:
    """Insert ``n`` synthetic pages into the configured database; returns the count."""
    assert Page._meta.table_name == "seo_pages"
    now = utcnow()
    rows = synthetic_pages(n)
    written = 0
    with database.connection_context():
        if _db.is_postgres():
            raw = database.connection()
            with raw.cursor() as cursor:
                for chunk in _db.chunked(rows, SEED_CHUNK):
                    buf = io.StringIO()
                    for row in chunk:
                        buf.write("\t".join(_copy_text(v) for v in (*row, 0, now, now)))
                        buf.write("\n")
                    buf.seek(0)
                    cursor.copy_expert(COPY_PAGES, buf)
                    written += len(chunk)
            raw.commit()
            database.execute_sql(ANALYZE_PAGES)
        else:
            with database.atomic():
                for chunk in _db.chunked(rows, SEED_CHUNK):
                    database.cursor().executemany(INSERT_PAGES, [(*row, 0, now, now) for row in chunk])
                    written += len(chunk)
    return written
