"""Rows of a page import file: JSONL or CSV read as a stream, each row checked.

``read_rows`` yields a ``PageRow`` for each good row and an ``InputError`` (file, line,
field) for each bad one, so one broken line never stops a file. Undecodable bytes are
reported per line (JSONL) or per field (CSV), never a crash; an over-long line is skipped
without being held in memory.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .errors import InputError
from .text import json_kind, shorten

FORMATS = ("jsonl", "csv")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 2000
#: Content over this many UTF-8 bytes is refused (a page, not a data dump).
MAX_CONTENT_BYTES = 1_000_000
MAX_ATTRIBUTES_BYTES = 64_000
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_UNSAFE_URL_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f<>\"\\^`{|}]")


@dataclass(frozen=True)
class PageRow:
    """A checked row: what gets upserted into ``seo_pages``."""

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


def open_binary(path: str) -> IO[bytes]:
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
                f"expected a JSON object, got {json_kind(value)}", file=path, line=number
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


def _validate(path: str, line: int, data: dict[str, Any], max_content_bytes: int) -> PageRow:
    def bad(message: str, name: str) -> InputError:
        return InputError(message, file=path, line=line, field=name)

    url = data.get("url")
    if url is None or (isinstance(url, str) and not url.strip()):
        raise bad("missing url", "url")
    if not isinstance(url, str):
        raise bad(f"url must be a string, got {json_kind(url)}", "url")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise bad(f"url is longer than {MAX_URL_CHARS} characters", "url")
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or _UNSAFE_URL_CHARS_RE.search(url) or _SURROGATE_RE.search(url):
        raise bad(f"url must be an absolute http(s) URL, got {shorten(url, 61)!r}", "url")

    title = data.get("title")
    if title is not None:
        if not isinstance(title, str):
            raise bad(f"title must be a string, got {json_kind(title)}", "title")
        title = title.replace("\x00", "")
        if len(title) > MAX_TITLE_CHARS:
            raise bad(f"title is {len(title):,} characters, over the {MAX_TITLE_CHARS:,} limit", "title")
        if _SURROGATE_RE.search(title):
            raise bad("title is not valid Unicode (unpaired surrogate)", "title")

    content = data.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise bad(f"content must be a string, got {json_kind(content)}", "content")
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
    return PageRow(line, url, title, content, attributes or None)


def read_rows(
    path: str, fmt: str, stream: IO[bytes], *, max_content_bytes: int = MAX_CONTENT_BYTES
) -> Iterator[PageRow | InputError]:
    """Each row of ``stream`` (the file at ``path``), checked: a PageRow or an InputError.

    Raises InputError for a file that cannot be read as ``fmt`` at all (CSV without url).
    """
    limit = max_content_bytes * 2 + MAX_ATTRIBUTES_BYTES + 65_536
    records = (
        _jsonl_records(path, stream, limit) if fmt == "jsonl" else _csv_records(path, stream, limit)
    )
    for line, record in records:
        if isinstance(record, InputError):
            yield record
            continue
        try:
            yield _validate(path, line, record, max_content_bytes)
        except InputError as error:
            yield error

