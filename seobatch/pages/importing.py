"""Stream an import file (JSONL or CSV, optionally gzipped) into ``seo_pages`` in bulk.

``import_pages`` reads the file row by row and writes chunks of ``chunk_size`` rows with
one ``SELECT … WHERE url IN (…)`` (to tell new, updated and unchanged rows apart) and one
``INSERT … ON CONFLICT (url) DO UPDATE`` per chunk, on PostgreSQL and SQLite alike; never a
query per row. The package docstring (``seobatch.pages``) says which columns go where and
how bad rows are reported.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import db as _db
from ..db import utcnow
from ..errors import InputError
from ..models import Page
from ..page_files import MAX_CONTENT_BYTES, MAX_ROW_BYTES, PageRow, detect_format, open_binary, other_slash, read_rows
from .delete import DeleteSummary, delete_missing
from .keys import max_params, url_key

#: A chunk is also written once its rows hold this much text (1000 × 1 MB is too much).
CHUNK_BYTES = 32_000_000
#: Errors kept on the summary; every error still goes to ``on_error``.
KEPT_ERRORS = 100


@dataclass
class ImportSummary:
    """What an import did; ``errors`` holds the first ``KEPT_ERRORS`` rejections."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    #: Of the rejected rows, those whose url an earlier row had (their page is known).
    duplicates: int = 0
    warnings: int = 0
    errors: list[InputError] = field(default_factory=list)
    #: ``prune=True``: what it deleted, or why it deleted nothing (``prune_refused``).
    pruned: DeleteSummary | None = None
    prune_refused: str = ""

    @property
    def imported(self) -> int:
        return self.new + self.updated + self.unchanged

    def describe(self) -> str:
        text = (
            f"imported {self.new} new, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}"
        )
        if self.warnings:
            text += f", {self.warnings} warning{'s' if self.warnings != 1 else ''}"
        if self.rejected or self.warnings:
            text += " (see above)" if not self.rejected else " (see errors above)"
        if self.pruned is not None:
            text += f"; prune: {self.pruned.describe()}"
        elif self.prune_refused:
            text += f"; prune: nothing deleted, {self.prune_refused}"
        return text


def _write_chunk(rows: list[PageRow], summary: ImportSummary) -> None:
    """Classify and upsert one chunk: one SELECT and one INSERT … ON CONFLICT per slice."""
    per_statement = max(1, max_params() // 9)
    now = utcnow()
    with _db.write_transaction():
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            known = {
                url: (content_hash, attributes, h1)
                for url, content_hash, attributes, h1 in _db.tuples(Page.select(
                    Page.url, Page.content_hash, Page.attributes, Page.h1
                ).where(Page.url.in_([r.url for r in part])))
            }
            values = []
            for row in part:
                content_hash = Page.hash_content(row.title, row.content, row.attributes)
                before = known.get(row.url)
                if before is None:
                    summary.new += 1
                elif before == (content_hash, row.attributes, row.h1) or (
                    # Hashed before attributes counted: unchanged, so its SEO stays current.
                    before[1:] == (row.attributes, row.h1)
                    and before[0] == Page.hash_content(row.title, row.content)
                ):
                    summary.unchanged += 1
                    continue
                else:
                    summary.updated += 1
                values.append({
                    "url": row.url, "title": row.title, "h1": row.h1, "content": row.content,
                    "attributes": row.attributes, "content_hash": content_hash,
                    "seo_attempts": 0, "created_at": now, "updated_at": now,
                    "seo_locked": _locked(row.attributes),
                })
            if values:
                Page.insert_many(values).on_conflict(
                    conflict_target=[Page.url],
                    preserve=[Page.title, Page.h1, Page.content, Page.attributes, Page.content_hash,
                              Page.updated_at, Page.seo_attempts, Page.seo_locked],
                    update={Page.seo_last_error: None},
                ).execute()


#: An import's ``seo_locked`` column: the page's SEO is edited by hand, never overwritten.
_LOCKED_VALUES = frozenset({"true", "1", "yes", "y", "locked"})


def _locked(attributes: dict[str, Any] | None) -> bool:
    value = (attributes or {}).get("seo_locked")
    return value is True or str(value).strip().lower() in _LOCKED_VALUES


def import_pages(
    path: str,
    *,
    fmt: str | None = None,
    chunk_size: int = 1000,
    max_content_bytes: int = MAX_CONTENT_BYTES,
    max_row_bytes: int = MAX_ROW_BYTES,
    on_error: Callable[[InputError], None] | None = None,
    on_warning: Callable[[InputError], None] | None = None,
    prune: bool = False,
) -> ImportSummary:
    """Stream ``path`` (JSONL or CSV, optionally .gz, ``-`` for stdin) into ``seo_pages``.

    ``prune``: then delete the stored pages whose url the file does not have — only when
    no row was rejected but for a repeated url (a rejected row's page cannot be told from
    one that left the site) and the file had any row. Raises InputError only for a file
    that cannot be read at all (missing, unknown format, CSV without a url column, a .gz
    that is not gzip); row errors go to ``on_error`` and the summary.
    """
    fmt = detect_format(path, fmt)
    summary = ImportSummary()

    def reject(error: InputError) -> None:
        summary.rejected += 1
        if len(summary.errors) < KEPT_ERRORS:
            summary.errors.append(error)
        if on_error is not None:
            on_error(error)

    def warn(message: str, line: int) -> None:
        summary.warnings += 1
        if on_warning is not None:
            on_warning(InputError(message, file=path, line=line))

    seen: set[int] = set()
    pending: list[PageRow] = []
    pending_bytes = 0
    stream = open_binary(path)
    try:
        rows = read_rows(path, fmt, stream, max_content_bytes=max_content_bytes, max_row_bytes=max_row_bytes)
        for row in rows:
            if isinstance(row, InputError):
                reject(row)
                continue
            key = url_key(row.url)
            if key in seen:
                summary.duplicates += 1
                reject(InputError(
                    f"duplicate url: an earlier line of this file has the same page ({row.url}); "
                    "this row is ignored",
                    file=path, line=row.line, field="url",
                ))
                continue
            seen.add(key)
            for note in row.notes:
                warn(note, row.line)
            twin = other_slash(row.url)
            if twin is not None and url_key(twin) in seen:
                warn(f"{row.url} and {twin} (an earlier line) differ only by the trailing '/'; "
                     "both are kept as pages (field 'url')", row.line)
            pending.append(row)
            pending_bytes += row.size
            if len(pending) >= chunk_size or pending_bytes >= CHUNK_BYTES:
                _write_chunk(pending, summary)
                pending, pending_bytes = [], 0
        if pending:
            _write_chunk(pending, summary)
    except (OSError, EOFError, zlib.error) as exc:  # a .gz that is not gzip, or cut short
        done = f"; the {summary.imported} row(s) before it were imported" if summary.imported else ""
        raise InputError(f"cannot read the file: {exc}{done}", file=path) from None
    finally:
        if path != "-":
            stream.close()
    if prune:
        unknown = summary.rejected - summary.duplicates
        if unknown:
            summary.prune_refused = (f"{unknown} rejected row(s) may be pages still on the site; "
                                     "fix them and import again")
        elif not seen:
            summary.prune_refused = "the file has no pages (that would delete every page)"
        else:
            summary.pruned = delete_missing(seen, chunk_size=chunk_size)
    return summary
