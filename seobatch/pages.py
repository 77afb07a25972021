"""Pages in and out: stream an import file into ``seo_pages`` in bulk, stream them out.

Import (``import_pages``) reads JSONL or CSV row by row and writes chunks of
``chunk_size`` rows with one ``SELECT … WHERE url IN (…)`` (to tell new, updated and
unchanged rows apart) and one ``INSERT … ON CONFLICT (url) DO UPDATE`` per chunk, on
PostgreSQL and SQLite alike; never a query per row.

Columns: ``url`` (required, absolute http/https), ``title``, ``content``; every other
column is kept in ``Page.attributes`` (a JSONL ``attributes`` object is merged in too).
A re-imported url replaces the page's title, content and attributes; when anything
changed, the page gets a fresh set of attempts (``seo_attempts`` back to 0) and its new
``content_hash`` makes the collector regenerate its SEO. An unchanged row is not written.

Bad rows (bad JSON, invalid UTF-8, missing or malformed url, wrong types, over-size
fields: see ``page_files``; a url already seen earlier in the same file) are rejected one
by one with an ``InputError`` naming file, line and field; the valid rows are imported. A duplicate url
keeps its FIRST row: the later ones are reported, never silently applied. NUL
characters, which PostgreSQL cannot store, are removed from title and content.

Export (``export_pages``) walks the table by primary key (keyset pagination, one query
per chunk) and writes JSONL (JSON-escaped) or CSV (RFC 4180 quoting, and cells that a
spreadsheet would run as a formula are prefixed with ``'``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import db as _db
from . import revisions
from .db import iso, utcnow
from .errors import InputError
from .models import Page
from .page_files import (
    EXTENSIONS,
    FORMATS,
    MAX_CONTENT_BYTES,
    PageRow,
    detect_format,
    open_binary,
    read_rows,
)

__all__ = [
    "EXPORT_FIELDS", "FORMATS", "ImportSummary", "detect_format", "export_pages",
    "import_pages", "iter_export_rows", "spreadsheet_safe", "write_export",
]

#: A chunk is also written once its rows hold this much text (1000 × 1 MB is too much).
CHUNK_BYTES = 32_000_000
#: Errors kept on the summary; every error still goes to ``on_error``.
KEPT_ERRORS = 100
EXPORT_FIELDS = ("url", "title", "seo_title", "seo_description", "seo_model", "seo_generated_at")
#: A cell starting with one of these is a formula to Excel/LibreOffice/Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass
class ImportSummary:
    """What an import did; ``errors`` holds the first ``KEPT_ERRORS`` rejections."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[InputError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.new + self.updated + self.unchanged

    def describe(self) -> str:
        text = (
            f"imported {self.new} new, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}"
        )
        return f"{text} (see errors above)" if self.rejected else text


# -- writing --------------------------------------------------------------------------------


def _max_params() -> int:
    if _db.is_postgres():
        return 60_000
    return 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _write_chunk(rows: list[PageRow], summary: ImportSummary) -> None:
    """Classify and upsert one chunk: one SELECT and one INSERT … ON CONFLICT per slice."""
    per_statement = max(1, _max_params() // 8)
    now = utcnow()
    with _db.write_transaction():
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            known = {
                url: (content_hash, attributes)
                for url, content_hash, attributes in Page.select(
                    Page.url, Page.content_hash, Page.attributes
                ).where(Page.url.in_([r.url for r in part])).tuples()
            }
            values = []
            for row in part:
                content_hash = Page.hash_content(row.title, row.content)
                before = known.get(row.url)
                if before is None:
                    summary.new += 1
                elif before == (content_hash, row.attributes):
                    summary.unchanged += 1
                    continue
                else:
                    summary.updated += 1
                values.append({
                    "url": row.url, "title": row.title, "content": row.content,
                    "attributes": row.attributes, "content_hash": content_hash,
                    "seo_attempts": 0, "created_at": now, "updated_at": now,
                    "seo_locked": _locked(row.attributes),
                })
            if values:
                Page.insert_many(values).on_conflict(
                    conflict_target=[Page.url],
                    preserve=[Page.title, Page.content, Page.attributes, Page.content_hash,
                              Page.updated_at, Page.seo_attempts, Page.seo_locked],
                    update={Page.seo_last_error: None},
                ).execute()


#: An import's ``seo_locked`` column: the page's SEO is edited by hand, never overwritten.
_LOCKED_VALUES = frozenset({"true", "1", "yes", "y", "locked"})


def _locked(attributes: dict[str, Any] | None) -> bool:
    value = (attributes or {}).get("seo_locked")
    return value is True or str(value).strip().lower() in _LOCKED_VALUES


def _url_key(url: str) -> int:
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest(), "big")


def import_pages(
    path: str,
    *,
    fmt: str | None = None,
    chunk_size: int = 1000,
    max_content_bytes: int = MAX_CONTENT_BYTES,
    on_error: Callable[[InputError], None] | None = None,
) -> ImportSummary:
    """Stream ``path`` (JSONL or CSV, optionally .gz, ``-`` for stdin) into ``seo_pages``.

    Raises InputError only for a file that cannot be read at all (missing, unknown format,
    CSV without a url column); row errors go to ``on_error`` and the summary.
    """
    fmt = detect_format(path, fmt)
    summary = ImportSummary()

    def reject(error: InputError) -> None:
        summary.rejected += 1
        if len(summary.errors) < KEPT_ERRORS:
            summary.errors.append(error)
        if on_error is not None:
            on_error(error)

    seen: set[int] = set()
    pending: list[PageRow] = []
    pending_bytes = 0
    stream = open_binary(path)
    try:
        for row in read_rows(path, fmt, stream, max_content_bytes=max_content_bytes):
            if isinstance(row, InputError):
                reject(row)
                continue
            key = _url_key(row.url)
            if key in seen:
                reject(InputError(
                    "duplicate url: an earlier line of this file has it; this row is ignored",
                    file=path, line=row.line, field="url",
                ))
                continue
            seen.add(key)
            pending.append(row)
            pending_bytes += row.size
            if len(pending) >= chunk_size or pending_bytes >= CHUNK_BYTES:
                _write_chunk(pending, summary)
                pending, pending_bytes = [], 0
        if pending:
            _write_chunk(pending, summary)
    finally:
        if path != "-":
            stream.close()
    return summary


# -- export ---------------------------------------------------------------------------------


def spreadsheet_safe(value: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    if value and (value[0] in "\t\r" or value.lstrip().startswith(_FORMULA_START)):
        return "'" + value
    return value


def iter_export_rows(
    *, chunk_size: int = 1000, generated_only: bool = False, state: str = "published",
) -> Iterator[dict[str, Any]]:
    """Pages with their SEO fields (the published revision's), by id, one keyset-paginated
    query per chunk; ``state="proposed"``: the proposals waiting for review instead."""
    if state == "proposed":
        yield from revisions.export_proposed(chunk_size=chunk_size)
        return
    columns = [Page.id] + [getattr(Page, name) for name in EXPORT_FIELDS]
    last_id = 0
    while True:
        query = Page.select(*columns).where(Page.id > last_id)
        if generated_only:
            query = query.where(Page.seo_title.is_null(False))
        rows = list(query.order_by(Page.id).limit(chunk_size).tuples())
        for row in rows:
            record = dict(zip(EXPORT_FIELDS, row[1:]))
            record["seo_generated_at"] = iso(record["seo_generated_at"])
            yield record
        if len(rows) < chunk_size:
            return
        last_id = rows[-1][0]


def write_export(stream: IO[str], rows: Iterator[dict[str, Any]], fmt: str) -> int:
    """Write ``rows`` to a text stream as JSONL or CSV; returns how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(EXPORT_FIELDS)
        for row in rows:
            writer.writerow(
                ["" if row[k] is None else spreadsheet_safe(str(row[k])) for k in EXPORT_FIELDS]
            )
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    else:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return count


def export_pages(
    path: str | None = None,
    *,
    fmt: str | None = None,
    chunk_size: int = 1000,
    generated_only: bool = False,
    stream: IO[str] | None = None,
    state: str = "published",
) -> int:
    """Export pages to ``path`` (written to a temporary file, then renamed) or ``stream``.

    The format is ``fmt``, else the file's extension, else JSONL. Returns the row count.
    """
    if path in (None, "-"):
        if stream is None:
            raise ValueError("export_pages needs a path or a stream")
        return write_export(stream, iter_export_rows(chunk_size=chunk_size, generated_only=generated_only,
                                                     state=state), fmt or "jsonl")
    assert path is not None
    fmt = fmt or EXTENSIONS.get(Path(path).suffix.lower(), "jsonl")
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=path)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            count = write_export(
                out, iter_export_rows(chunk_size=chunk_size, generated_only=generated_only, state=state), fmt
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return count
