"""Pages in and out: stream an import file into ``seo_pages`` in bulk, stream them out,
delete the pages that left the site.

Import (``import_pages``) reads JSONL or CSV row by row and writes chunks of
``chunk_size`` rows with one ``SELECT … WHERE url IN (…)`` (to tell new, updated and
unchanged rows apart) and one ``INSERT … ON CONFLICT (url) DO UPDATE`` per chunk, on
PostgreSQL and SQLite alike; never a query per row.

Columns: ``url`` (required, absolute http/https, stored in its normal form: see
``page_files.normal_url``), ``title``, ``h1`` (the main heading;
without the column, the first ``<h1>`` of HTML content), ``content``; every other column is
kept in ``Page.attributes`` (a JSONL ``attributes`` object is merged in too). A
re-imported url replaces the page's title, h1, content and attributes; when anything
changed, the page gets a fresh set of attempts (``seo_attempts`` back to 0) and its new
``content_hash`` makes the collector regenerate its SEO. An unchanged row is not written.

Bad rows (bad JSON, invalid UTF-8, missing or malformed url, wrong types, over-size
fields: see ``page_files``; a url already seen earlier in the same file) are rejected one
by one with an ``InputError`` naming file, line and field; the valid rows are imported. A
duplicate url (compared in normal form) keeps its FIRST row: the later ones are reported,
never silently applied. NUL characters, which PostgreSQL cannot store, are removed from
title and content. Warnings (content cut to its limit, ``/x`` next to ``/x/``) go to
``on_warning``; the row is imported.

Export (``export_pages``) walks the table by primary key (keyset pagination, one query
per chunk) and writes JSONL (JSON-escaped) or CSV (RFC 4180 quoting, and cells that a
spreadsheet would run as a formula are prefixed with ``'``), gzipped for a ``.gz`` name.
The page's attributes (the import's own columns) follow the SEO fields.

Delete (``delete_pages``, ``delete_missing``, ``import_pages(prune=True)``) removes pages
in chunks under the collectors' lock, and keeps (and counts) every page that an active
job holds, so a running job never loses an item.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import peewee

from . import db as _db
from . import revisions
from .db import collector_lock, iso, utcnow
from .errors import InputError
from .jobmeta import ACTIVE_STATUSES
from .models import Page, SeoBatchItem, SeoBatchJob
from .page_files import (
    FORMATS,
    MAX_CONTENT_BYTES,
    MAX_ROW_BYTES,
    PageRow,
    detect_format,
    export_format,
    format_of_name,
    normal_url,
    open_binary,
    other_slash,
    read_rows,
    read_urls,
)

__all__ = [
    "EXPORT_FIELDS", "FORMATS", "DeleteSummary", "ImportSummary", "UrlReport", "check_urls",
    "delete_missing", "delete_pages", "detect_format", "export_pages", "import_pages",
    "iter_export_rows", "listed_urls", "parse_since", "spreadsheet_safe", "url_keys", "write_export",
]

#: A chunk is also written once its rows hold this much text (1000 × 1 MB is too much).
CHUNK_BYTES = 32_000_000
#: Errors kept on the summary; every error still goes to ``on_error``.
KEPT_ERRORS = 100
EXPORT_FIELDS = ("url", "title", "seo_title", "seo_description", "seo_model", "seo_generated_at")
#: An attribute whose name is one of these is exported as ``attributes.<name>``.
_RESERVED_COLUMNS = frozenset(EXPORT_FIELDS) | {"content"}
#: A cell starting with one of these is a formula to Excel/LibreOffice/Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass
class DeleteSummary:
    """What a delete did (or, with ``dry_run``, would do)."""

    deleted: int = 0
    #: Kept: an active job holds them (an item of a collecting/submitting/processing job).
    busy: int = 0
    #: Listed urls that no page has.
    not_found: int = 0
    dry_run: bool = False

    def describe(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = f"{verb} {_pages(self.deleted)}"
        if self.busy:
            text += (f"; kept {_pages(self.busy)} that active jobs hold "
                     "(run it again once they have ended)")
        if self.not_found:
            text += f"; {self.not_found} listed url(s) match no page"
        return text


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


# -- writing --------------------------------------------------------------------------------


def _max_params() -> int:
    if _db.is_postgres():
        return 60_000
    return 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _write_chunk(rows: list[PageRow], summary: ImportSummary) -> None:
    """Classify and upsert one chunk: one SELECT and one INSERT … ON CONFLICT per slice."""
    per_statement = max(1, _max_params() // 9)
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


def _url_key(url: str) -> int:
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest(), "big")


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
            key = _url_key(row.url)
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
            if twin is not None and _url_key(twin) in seen:
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


# -- export ---------------------------------------------------------------------------------


def spreadsheet_safe(value: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    if value and (value[0] in "\t\r" or value.lstrip().startswith(_FORMULA_START)):
        return "'" + value
    return value


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time (``2026-12-01``, ``…T02:00``, ``…Z``, ``…+01:00``) as naive UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"expected an ISO 8601 date or time such as 2026-12-01 or 2026-12-01T02:00Z, got {text!r}"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _since_job(job_id: int) -> datetime:
    created = SeoBatchJob.select(SeoBatchJob.created_at).where(SeoBatchJob.id == job_id).scalar()
    if created is None:
        raise InputError(f"no job with id {job_id} (see `seobatch jobs`)")
    return created


def _export_filter(generated_only: bool, since: datetime | None) -> Any:
    condition: Any = True
    if generated_only:
        condition = Page.seo_title.is_null(False)
    if since is not None:
        condition = (Page.seo_generated_at >= since) & condition
    return condition


def attribute_columns(condition: Any = True) -> list[str]:
    """The export's attribute columns: every attribute name of the pages that ``condition``
    selects, in name order (one query, DISTINCT in the database)."""
    if _db.is_postgres():
        is_object = peewee.fn.jsonb_typeof(Page.attributes) == "object"
        names = "jsonb_object_keys(p.attributes) AS e (key)"
    else:
        is_object = peewee.fn.json_type(Page.attributes) == "object"
        names = "json_each(p.attributes) AS e"
    inner, params = Page.select(Page.attributes).where(condition & is_object).sql()
    sql = f"SELECT DISTINCT e.key FROM ({inner}) AS p, {names}"
    cursor = _db.database.execute_sql(sql, params)  # sql-constant: our query and table functions; values are parameters
    return sorted(_column_name(name) for (name,) in cursor.fetchall())


def _column_name(name: str) -> str:
    return f"attributes.{name}" if name in _RESERVED_COLUMNS else name


def iter_export_rows(
    *,
    chunk_size: int = 1000,
    generated_only: bool = False,
    since: datetime | None = None,
    attributes: bool = True,
    state: str = "published",
) -> Iterator[dict[str, Any]]:
    """Pages with their SEO fields (the published revision's, then their attributes), by id,
    one keyset query per chunk; ``state="proposed"``: the proposals waiting for review instead."""
    if state == "proposed":
        yield from revisions.export_proposed(chunk_size=chunk_size)
        return
    columns = [Page.id] + [getattr(Page, name) for name in EXPORT_FIELDS]
    if attributes:
        columns.append(Page.attributes)
    end = 1 + len(EXPORT_FIELDS)
    condition = _export_filter(generated_only, since)
    last_id = 0
    while True:
        query = Page.select(*columns).where((Page.id > last_id) & condition)
        rows = list(_db.tuples(query.order_by(Page.id).limit(chunk_size)))
        for row in rows:
            record = dict(zip(EXPORT_FIELDS, row[1:end], strict=False))
            record["seo_generated_at"] = iso(record["seo_generated_at"])
            if attributes and isinstance(row[end], dict):
                for name, value in row[end].items():
                    record[_column_name(name)] = value
            yield record
        if len(rows) < chunk_size:
            return
        last_id = rows[-1][0]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return spreadsheet_safe(value)


def write_export(
    stream: IO[str], rows: Iterator[dict[str, Any]], fmt: str, extra_columns: Iterable[str] = ()
) -> int:
    """Write ``rows`` to a text stream as JSONL or CSV; returns how many were written.

    CSV's header is ``EXPORT_FIELDS`` then ``extra_columns`` (a row's other keys are not
    written); a list or object value is written as JSON.
    """
    count = 0
    if fmt == "csv":
        header = list(EXPORT_FIELDS) + [c for c in extra_columns if c not in EXPORT_FIELDS]
        writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(row.get(k)) for k in header])
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
    since: datetime | None = None,
    since_job: int | None = None,
    attributes: bool = True,
    stream: IO[str] | None = None,
    state: str = "published",
) -> int:
    """Export pages to ``path`` (written to a temporary file, then renamed) or ``stream``.

    A file gets the format its name says (``.csv``, ``.csv.gz``, ``.jsonl``,
    ``.jsonl.gz``; any other name is refused); a stream gets ``fmt``, else JSONL.
    ``since`` / ``since_job`` keep the pages whose SEO was generated at or after that
    time / after job ``since_job`` was created (its own pages included). ``attributes``
    adds the import's own columns. Returns the row count.
    """
    if since_job is not None:
        since = max(since or datetime.min, _since_job(since_job))
    condition = _export_filter(generated_only, since)

    def write(out: IO[str], fmt: str) -> int:
        proposed = state == "proposed"
        extra = attribute_columns(condition) if attributes and fmt == "csv" and not proposed else ()
        rows = iter_export_rows(
            chunk_size=chunk_size, generated_only=generated_only, since=since, attributes=attributes,
            state=state,
        )
        return write_export(out, rows, fmt, extra)

    if path in (None, "-"):
        if stream is None:
            raise ValueError("export_pages needs a path or a stream")
        return write(stream, fmt or "jsonl")
    assert path is not None
    fmt = export_format(path, fmt)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            binary: IO[bytes] = raw
            if path.lower().endswith(".gz"):  # named for the target, not the temporary file
                binary = gzip.GzipFile(filename=target.name, mode="wb", fileobj=raw)  # type: ignore[assignment]
            with io.TextIOWrapper(binary, encoding="utf-8", newline="") as out:
                count = write(out, fmt)
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


# -- delete ---------------------------------------------------------------------------------


def listed_urls(path: str, *, on_error: Callable[[InputError], None] | None = None) -> Iterator[str]:
    """The normal urls that ``path`` lists, each once, in file order; bad lines go to ``on_error``.

    A ``.csv``/``.jsonl`` file (``.gz`` too) gives its url column; any other file (and
    ``-``) is one url a line, blank lines and ``#`` comments skipped.
    """
    fmt = format_of_name(path) if path != "-" else None
    seen: set[int] = set()
    stream = open_binary(path)
    try:
        items: Iterator[Any] = read_rows(path, fmt, stream) if fmt else read_urls(path, stream)
        for item in items:
            if isinstance(item, InputError):
                if on_error is not None:
                    on_error(item)
                continue
            url = item.url if isinstance(item, PageRow) else item[1]
            key = _url_key(url)
            if key not in seen:
                seen.add(key)
                yield url
    finally:
        if path != "-":
            stream.close()


def url_keys(urls: Iterable[str]) -> set[int]:
    """The 8-byte keys ``delete_missing`` compares (a million urls: tens of MB, not GB)."""
    return {_url_key(normal_url(u)) for u in urls}


def delete_pages(urls: Iterable[str], *, chunk_size: int = 1000, dry_run: bool = False) -> DeleteSummary:
    """Delete the pages with these urls (compared in normal form), a chunk at a time."""
    summary = DeleteSummary(dry_run=dry_run)
    for chunk in _db.chunked((normal_url(u) for u in urls), _id_chunk(chunk_size)):
        wanted = set(chunk)
        ids = [page_id for (page_id,) in _db.tuples(Page.select(Page.id).where(Page.url.in_(list(wanted))))]
        summary.not_found += len(wanted) - len(ids)
        _delete_ids(ids, summary)
    return summary


def delete_missing(keys: set[int], *, chunk_size: int = 1000, dry_run: bool = False) -> DeleteSummary:
    """Delete every page whose url is not among ``keys`` (``url_keys`` of the site's urls).

    A page stored with a url that is not in normal form (imported before normalisation)
    is in no normal-form list, so it goes too.
    """
    summary = DeleteSummary(dry_run=dry_run)
    chunk_size = _id_chunk(chunk_size)
    last_id = 0
    while True:
        rows = list(
            _db.tuples(Page.select(Page.id, Page.url).where(Page.id > last_id).order_by(Page.id).limit(chunk_size))
        )
        gone = [page_id for page_id, url in rows if _url_key(url) not in keys]
        _delete_ids(gone, summary)
        if len(rows) < chunk_size:
            return summary
        last_id = rows[-1][0]


def _id_chunk(chunk_size: int) -> int:
    """``chunk_size``, but few enough ids for one ``IN (…)`` on this database."""
    return max(1, min(chunk_size, _max_params() // 2))


def _delete_ids(ids: list[int], summary: DeleteSummary) -> None:
    """Delete these pages but those an active job holds: three statements, one transaction.

    Under the collectors' lock, so no collector puts one of them in a job meanwhile; the
    items of finished jobs go with their page (ON DELETE CASCADE).
    """
    if not ids:
        return
    with collector_lock():
        active = [j for (j,) in _db.tuples(SeoBatchJob.select(SeoBatchJob.id).where(
            SeoBatchJob.status.in_(ACTIVE_STATUSES)))]
        busy: set[int] = set()
        if active:
            busy = {page_id for (page_id,) in _db.tuples(SeoBatchItem.select(SeoBatchItem.page).where(
                SeoBatchItem.page.in_(ids) & SeoBatchItem.job.in_(active)).distinct())}
        free = [i for i in ids if i not in busy]
        summary.busy += len(busy)
        if summary.dry_run:
            summary.deleted += len(free)
        elif free:
            summary.deleted += Page.delete().where(Page.id.in_(free)).execute()


# -- urls stored before normalisation -------------------------------------------------------


@dataclass
class UrlReport:
    """How the stored urls compare with ``normal_url``: what a migration would change."""

    pages: int = 0
    #: Stored urls that are not in normal form.
    not_normal: int = 0
    #: Of those, how many share their normal form with another stored page (a merge).
    collide: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.not_normal} of {_pages(self.pages)} have a url that is not in normal form"
        if self.not_normal:
            text += f" ({self.collide} of them share it with another page)"
        return text


def check_urls(*, chunk_size: int = 1000, examples: int = 5) -> UrlReport:
    """Count the stored urls a normalising migration would change (reads only)."""
    report = UrlReport()
    chunk_size = _id_chunk(chunk_size)
    normal_keys: set[int] = set()
    last_id = 0
    while True:
        rows = list(
            _db.tuples(Page.select(Page.id, Page.url).where(Page.id > last_id).order_by(Page.id).limit(chunk_size))
        )
        report.pages += len(rows)
        changed = [(url, normal_url(url)) for _, url in rows]
        changed = [(old, new) for old, new in changed if old != new]
        if changed:
            report.not_normal += len(changed)
            report.examples.extend(changed[: max(0, examples - len(report.examples))])
            taken = {u for (u,) in _db.tuples(Page.select(Page.url).where(Page.url.in_([n for _, n in changed])))}
            for _, new in changed:
                key = _url_key(new)
                if new in taken or key in normal_keys:
                    report.collide += 1
                normal_keys.add(key)
        if len(rows) < chunk_size:
            return report
        last_id = rows[-1][0]


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"
