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
fields, a url already seen earlier in the same file) are rejected one by one with an
``InputError`` naming file, line and field; the valid rows are imported. A duplicate url
keeps its FIRST row: the later ones are reported, never silently applied. NUL
characters, which PostgreSQL cannot store, are removed from title and content.

Export (``export_pages``) walks the table by primary key (keyset pagination, one query
per chunk) and writes JSONL (JSON-escaped) or CSV (RFC 4180 quoting, and cells that a
spreadsheet would run as a formula are prefixed with ``'``).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from . import db as _db
from .db import utcnow
from .errors import InputError
from .models import Page

FORMATS = ("jsonl", "csv")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 2000
#: Content over this many UTF-8 bytes is refused (a page, not a data dump).
MAX_CONTENT_BYTES = 1_000_000
MAX_ATTRIBUTES_BYTES = 64_000
#: A chunk is also written once its rows hold this much text (1000 × 1 MB is too much).
CHUNK_BYTES = 32_000_000
#: Errors kept on the summary; every error still goes to ``on_error``.
KEPT_ERRORS = 100
EXPORT_FIELDS = ("url", "title", "seo_title", "seo_description", "seo_model", "seo_generated_at")
#: A cell starting with one of these is a formula to Excel/LibreOffice/Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_UNSAFE_URL_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f<>\"\\^`{|}]")


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


@dataclass(frozen=True)
class _Row:
    line: int
    url: str
    title: str | None
    content: str
    attributes: dict[str, Any] | None

    @property
    def size(self) -> int:
        return len(self.content) + len(self.title or "") + 200


# -- reading --------------------------------------------------------------------------------


def detect_format(path: str, fmt: str | None = None) -> str:
    """``jsonl`` or ``csv``: the explicit ``fmt``, else from the extension (``.gz`` ignored)."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=path)
        return fmt
    name = path[:-3] if path.endswith(".gz") else path
    found = EXTENSIONS.get(Path(name).suffix.lower())
    if not found:
        raise InputError(
            "cannot tell the format from the file name; pass --format jsonl or --format csv",
            file=path,
        )
    return found


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        import sys

        return sys.stdin.buffer
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=path) from None
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _jsonl_records(path: str, stream: IO[bytes], line_limit: int) -> Iterator[tuple[int, Any]]:
    """(line, dict) for each row, (line, InputError) for each bad one."""
    for number, raw in enumerate(_bounded_lines(stream, line_limit), 1):
        if raw is None:
            yield number, InputError(f"line is longer than {line_limit:,} bytes", file=path, line=number)
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield number, InputError(
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                file=path, line=number,
            )
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            detail = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            yield number, InputError(f"bad JSON: {detail}", file=path, line=number)
            continue
        if not isinstance(value, dict):
            yield number, InputError(
                f"expected a JSON object, got {_type_name(value)}", file=path, line=number
            )
            continue
        yield number, value


def _bounded_lines(stream: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """Lines of ``stream``; a line longer than ``limit`` is skipped and yields None."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # drain the rest of the long line
                line = stream.readline(1 << 20)
            yield None
            continue
        yield line


def _csv_records(path: str, stream: IO[bytes], field_limit: int) -> Iterator[tuple[int, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(field_limit)
    try:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"bad CSV header: {exc}", file=path, line=1) from None
        names = [h.strip() for h in header]
        lowered = [n.lower() for n in names]
        if "url" not in lowered:
            raise InputError(
                f"the header has no url column (found: {', '.join(names) or 'nothing'})",
                file=path, line=1, field="url",
            )
        dupes = sorted({n for n in lowered if n and lowered.count(n) > 1})
        if dupes:
            raise InputError(f"the header repeats {', '.join(dupes)}", file=path, line=1)
        keys = [n if n.lower() not in ("url", "title", "content") else n.lower() for n in names]
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, InputError(f"bad CSV: {exc}", file=path, line=line)
                line = reader.line_num + 1
                continue
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(keys):
                yield start, InputError(
                    f"row has {len(row)} fields, the header has {len(keys)}", file=path, line=start
                )
                continue
            record: dict[str, Any] = {}
            bad = next((k for k, cell in zip(keys, row) if _SURROGATE_RE.search(cell)), None)
            if bad is not None:
                yield start, InputError("not valid UTF-8", file=path, line=start, field=bad)
                continue
            for key, cell in zip(keys, row):
                if key in ("title", "content", "url"):
                    record[key] = cell if cell != "" or key == "url" else None
                elif key and cell != "":
                    record[key] = cell
            yield start, record
    finally:
        csv.field_size_limit(previous_limit)
        text.detach()


# -- validating -----------------------------------------------------------------------------


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _validate(path: str, line: int, data: dict[str, Any], max_content_bytes: int) -> _Row:
    def bad(message: str, name: str) -> InputError:
        return InputError(message, file=path, line=line, field=name)

    url = data.get("url")
    if url is None or (isinstance(url, str) and not url.strip()):
        raise bad("missing url", "url")
    if not isinstance(url, str):
        raise bad(f"url must be a string, got {_type_name(url)}", "url")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise bad(f"url is longer than {MAX_URL_CHARS} characters", "url")
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or _UNSAFE_URL_CHARS_RE.search(url) or _SURROGATE_RE.search(url):
        raise bad(f"url must be an absolute http(s) URL, got {_short(url)}", "url")

    title = data.get("title")
    if title is not None:
        if not isinstance(title, str):
            raise bad(f"title must be a string, got {_type_name(title)}", "title")
        title = title.replace("\x00", "")
        if len(title) > MAX_TITLE_CHARS:
            raise bad(f"title is {len(title):,} characters, over the {MAX_TITLE_CHARS:,} limit", "title")
        if _SURROGATE_RE.search(title):
            raise bad("title is not valid Unicode (unpaired surrogate)", "title")

    content = data.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise bad(f"content must be a string, got {_type_name(content)}", "content")
    content = content.replace("\x00", "")
    if _SURROGATE_RE.search(content):
        raise bad("content is not valid Unicode (unpaired surrogate)", "content")
    if len(content) * 4 > max_content_bytes:  # only then can it be over the limit
        size = len(content.encode("utf-8"))
        if size > max_content_bytes:
            raise bad(f"content is {size:,} bytes, over the {max_content_bytes:,} limit", "content")

    attributes: dict[str, Any] = {}
    nested = data.get("attributes")
    if isinstance(nested, dict):
        attributes.update(nested)
    elif nested is not None:
        attributes["attributes"] = nested
    attributes.update(
        (k, v) for k, v in data.items() if k not in ("url", "title", "content", "attributes")
    )
    if attributes:
        encoded = json.dumps(attributes, ensure_ascii=False)
        if len(encoded.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTES_BYTES:
            raise bad(f"other columns hold over {MAX_ATTRIBUTES_BYTES:,} bytes", "attributes")
        if "\\u0000" in encoded or _SURROGATE_RE.search(encoded):
            raise bad("a NUL character or unpaired surrogate in an extra column", "attributes")
    return _Row(line, url, title, content, attributes or None)


# -- writing --------------------------------------------------------------------------------


def _max_params() -> int:
    if _db.is_postgres():
        return 60_000
    return 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _write_chunk(rows: list[_Row], summary: ImportSummary) -> None:
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
                })
            if values:
                Page.insert_many(values).on_conflict(
                    conflict_target=[Page.url],
                    preserve=[Page.title, Page.content, Page.attributes, Page.content_hash,
                              Page.updated_at, Page.seo_attempts],
                    update={Page.seo_last_error: None},
                ).execute()


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
    pending: list[_Row] = []
    pending_bytes = 0
    stream = _open_binary(path)
    try:
        limit = max_content_bytes * 2 + MAX_ATTRIBUTES_BYTES + 65_536
        records = (
            _jsonl_records(path, stream, limit) if fmt == "jsonl"
            else _csv_records(path, stream, limit)
        )
        for line, record in records:
            if isinstance(record, InputError):
                reject(record)
                continue
            try:
                row = _validate(path, line, record, max_content_bytes)
            except InputError as error:
                reject(error)
                continue
            key = _url_key(row.url)
            if key in seen:
                reject(InputError(
                    "duplicate url: an earlier line of this file has it; this row is ignored",
                    file=path, line=line, field="url",
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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def iter_export_rows(*, chunk_size: int = 1000, generated_only: bool = False) -> Iterator[dict[str, Any]]:
    """Pages with their SEO fields, by id, one keyset-paginated query per chunk."""
    columns = [Page.id] + [getattr(Page, name) for name in EXPORT_FIELDS]
    last_id = 0
    while True:
        query = Page.select(*columns).where(Page.id > last_id)
        if generated_only:
            query = query.where(Page.seo_title.is_null(False))
        rows = list(query.order_by(Page.id).limit(chunk_size).tuples())
        for row in rows:
            record = dict(zip(EXPORT_FIELDS, row[1:]))
            record["seo_generated_at"] = _iso(record["seo_generated_at"])
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
) -> int:
    """Export pages to ``path`` (written to a temporary file, then renamed) or ``stream``.

    The format is ``fmt``, else the file's extension, else JSONL. Returns the row count.
    """
    if path in (None, "-"):
        if stream is None:
            raise ValueError("export_pages needs a path or a stream")
        return write_export(stream, iter_export_rows(chunk_size=chunk_size, generated_only=generated_only),
                            fmt or "jsonl")
    assert path is not None
    fmt = fmt or EXTENSIONS.get(Path(path).suffix.lower(), "jsonl")
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=path)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            count = write_export(
                out, iter_export_rows(chunk_size=chunk_size, generated_only=generated_only), fmt
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write the file: {exc.strerror or exc}", file=path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return count
