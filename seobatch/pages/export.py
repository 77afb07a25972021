"""Stream pages out with their SEO fields: JSONL or CSV, gzipped for a ``.gz`` name.

The table is walked by primary key (keyset pagination, one query per chunk). JSONL is
JSON-escaped; CSV follows RFC 4180 quoting, and a cell that a spreadsheet would run as a
formula is prefixed with ``'``. The page's attributes (the import's own columns) follow
the SEO fields. A file is written to a temporary name and renamed, so a reader never sees
half an export.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import peewee

from .. import db as _db
from .. import revisions
from ..db import iso
from ..errors import InputError
from ..models import Page, SeoBatchJob
from ..page_files import FORMATS, export_format

EXPORT_FIELDS = ("url", "title", "seo_title", "seo_description", "seo_model", "seo_generated_at")
#: An attribute whose name is one of these is exported as ``attributes.<name>``.
_RESERVED_COLUMNS = frozenset(EXPORT_FIELDS) | {"content"}
#: A cell starting with one of these is a formula to Excel/LibreOffice/Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


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
