"""Rows of a page file: JSONL or CSV read as a stream, each row checked; file names; urls.

``read_rows`` yields a ``PageRow`` for each good row and an ``InputError`` (file, line,
field) for each bad one, so one broken line never stops a file. Undecodable bytes are
reported per line (JSONL) or per field (CSV), never a crash; an over-long line is skipped
without being held in memory. A CSV quote that never closes is reported at its line and
the lines after it are read again as rows of their own, so nothing is silently swallowed.

Limits (README "Page files"): a row (a JSONL line, a CSV row) of at most ``MAX_ROW_BYTES``;
content over ``MAX_CONTENT_BYTES`` is cut at a word boundary (the row says so in its
``notes``), not rejected; title, url and the extra columns over their limits are rejected.

``normal_url`` is the one rule that tells two spellings of a page's url apart (or not).
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
from typing import IO, Any
from urllib.parse import SplitResult, urlsplit

from .errors import InputError
from .text import collapse_whitespace, html_to_text, json_kind, shorten

FORMATS = ("jsonl", "csv")
#: File names seobatch reads and writes, by their ending (compared in lower case).
FILE_ENDINGS = {
    ".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl", ".ndjson.gz": "jsonl",  # JSON Lines by its other name
}
NAMED_ENDINGS = ".csv, .csv.gz, .jsonl or .jsonl.gz"
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 2000
#: Content over this many UTF-8 bytes is cut at a word boundary: the prompt reads only
#: its first ``SEOBATCH_PROMPT_MAX_CHARS`` characters of text anyway.
MAX_CONTENT_BYTES = 1_000_000
MAX_ATTRIBUTES_BYTES = 64_000
#: A row (JSONL line, CSV row) over this is rejected unread: it is not a page.
MAX_ROW_BYTES = 16 * 1024 * 1024
#: Query parameters that only say where a visitor came from (compared in lower case);
#: ``utm_*`` are dropped by their prefix.
TRACKING_PARAMETERS = frozenset({
    "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi",
    "mkt_tok", "srsltid",
})
#: seobatch's own output columns (``pages export``): ignored on import, so that an
#: export can be imported again without turning them into page attributes.
OUTPUT_COLUMNS = frozenset({"seo_title", "seo_description", "seo_model", "seo_generated_at"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_HOST_PORT_RE = re.compile(r"^(\[[^\]]*\]|[^:]*)(?::([0-9]*))?$")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_UNSAFE_URL_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f<>\"\\^`{|}]")
#: The first main heading of HTML content (used when the file has no h1 column).
_H1_RE = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
#: Columns that are fields of the page, not attributes.
_PAGE_COLUMNS = ("url", "title", "h1", "content")


@dataclass(frozen=True)
class PageRow:
    """A checked row: what gets upserted into ``seo_pages``."""

    line: int
    url: str
    title: str | None
    content: str
    attributes: dict[str, Any] | None
    #: What was changed on the way in (content cut to the limit): warnings, not errors.
    notes: tuple[str, ...] = ()
    #: The ``h1`` column, else the first <h1> of HTML content; None when neither.
    h1: str | None = None

    @property
    def size(self) -> int:
        return len(self.content) + len(self.title or "") + 200


# -- reading --------------------------------------------------------------------------------


def format_of_name(path: str) -> str | None:
    """``csv`` or ``jsonl`` when ``path`` ends in one of ``FILE_ENDINGS``, else None."""
    name = path.lower()
    for ending in sorted(FILE_ENDINGS, key=len, reverse=True):
        if name.endswith(ending) and len(name) > len(ending):
            return FILE_ENDINGS[ending]
    return None


def detect_format(path: str, fmt: str | None = None) -> str:
    """``jsonl`` or ``csv`` to read ``path``: the explicit ``fmt``, else its file name."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", file=path)
        return fmt
    found = format_of_name(path)
    if not found:
        hint = (" (a .json file is one JSON document; seobatch reads JSON Lines, one object a line)"
                if path.lower().removesuffix(".gz").endswith(".json") else "")
        raise InputError(
            f"cannot tell the format from the file name: name it {NAMED_ENDINGS}, "
            f"or pass --format jsonl or --format csv{hint}",
            file=path,
        )
    return found


def export_format(path: str, fmt: str | None = None) -> str:
    """The format an export to ``path`` writes: what its name says; anything else is refused."""
    found = format_of_name(path)
    if found is None:
        raise InputError(
            f"cannot tell the export format from the file name: name it {NAMED_ENDINGS} "
            "('-' writes JSONL to standard output)",
            file=path,
        )
    if fmt and fmt != found:
        raise InputError(f"the file name says {found} but --format says {fmt}", file=path)
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
    if path.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _jsonl_records(path: str, stream: IO[bytes], line_limit: int) -> Iterator[tuple[int, Any]]:
    """(line, dict) for each row, (line, InputError) for each bad one."""
    for number, raw in enumerate(_bounded_lines(stream, line_limit), 1):
        if raw is None:
            yield number, InputError(
                f"line is longer than one row may be ({_size(line_limit)})", file=path, line=number
            )
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


class _CsvLines:
    """The physical lines ``csv.reader`` reads, counted, each at most ``limit`` characters.

    The lines of the record being read are kept (``kept``) so that a broken record
    (a quote that never closes) can be read again from its second line (``reread``).
    A longer line is drained unread and stands in as an empty line (``overlong``).
    ``lines()`` is a generator, not ``__next__``: a million lines cost a second less.
    """

    def __init__(self, text: IO[str], limit: int) -> None:
        self._text, self._limit = text, limit
        self._again: list[str] = []  # a stack: the next line is at the end
        self.kept: list[str] = []
        #: The number of the last line handed out; the record's first is ``start``.
        self.number = 0
        self.start = 1
        self.overlong: set[int] = set()
        #: The file ended while the current record was being read.
        self.hit_end = False

    def lines(self) -> Iterator[str]:
        readline, limit, kept, again = self._text.readline, self._limit, self.kept, self._again
        while True:
            if again:
                line = again.pop()
            else:
                line = readline(limit + 1)
                if not line:
                    self.hit_end = True
                    return
                if len(line) > limit and line[-1] not in "\r\n":
                    while line and line[-1] not in "\r\n":
                        line = readline(1 << 20)
                    self.overlong.add(self.number + 1)
                    line = "\n"
            self.number += 1
            kept.append(line)
            yield line

    def start_record(self) -> None:
        self.kept.clear()
        self.start = self.number + 1
        self.hit_end = False

    def reread(self) -> None:
        """Read the current record's lines again, all but its first."""
        self._again.extend(reversed(self.kept[1:]))
        self.number = self.start
        self.kept.clear()


def _csv_records(path: str, stream: IO[bytes], field_limit: int) -> Iterator[tuple[int, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(field_limit)
    lines = _CsvLines(text, field_limit)
    try:
        reader = csv.reader(lines.lines())
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"bad CSV header: {exc}", file=path, line=1) from None
        if lines.hit_end and len(lines.kept) > 1:
            raise InputError("bad CSV header: a quote that never closes", file=path, line=1)
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
        keys = [n if n.lower() not in _PAGE_COLUMNS else n.lower() for n in names]
        overlong = lines.overlong
        while True:
            lines.start_record()
            start = lines.start
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # Over the field limit: most likely a quote that never closes in a big file.
                if len(lines.kept) > 1:
                    yield start, InputError(
                        f"bad CSV: {exc}, in a quoted field that starts here and runs on for "
                        f"{len(lines.kept)} lines (a quote that never closes?); this row is skipped "
                        f"and the lines after line {start} are read again as rows",
                        file=path, line=start,
                    )
                    lines.reread()
                else:
                    yield start, InputError(f"bad CSV: {exc}", file=path, line=start)
                reader = csv.reader(lines.lines())
                continue
            if lines.hit_end:
                # csv.reader hit the end of the file inside a quoted field and returned it.
                end = lines.number
                rest = f"; lines {start + 1}–{end} are read again as rows" if end > start else ""
                yield start, InputError(
                    f"unclosed quote: the quoted field never ends (it runs to the end of the "
                    f"file, line {end}); this row is skipped{rest}",
                    file=path, line=start,
                )
                lines.reread()
                reader = csv.reader(lines.lines())
                continue
            if overlong:
                long_lines = sorted(n for n in overlong if n <= lines.number)
                overlong.difference_update(long_lines)
                if long_lines:
                    yield start, InputError(
                        f"line {long_lines[0]} is longer than one row may be ({_size(field_limit)})",
                        file=path, line=start,
                    )
                    continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(keys):
                yield start, InputError(
                    f"row has {len(row)} fields, the header has {len(keys)}", file=path, line=start
                )
                continue
            record: dict[str, Any] = {}
            bad = next((k for k, cell in zip(keys, row, strict=False) if _SURROGATE_RE.search(cell)), None)
            if bad is not None:
                yield start, InputError("not valid UTF-8", file=path, line=start, field=bad)
                continue
            for key, cell in zip(keys, row, strict=False):
                if key in _PAGE_COLUMNS:
                    record[key] = cell if cell != "" or key == "url" else None
                elif key and cell != "":
                    record[key] = cell
            yield start, record
    finally:
        csv.field_size_limit(previous_limit)
        text.detach()


def _size(n: int) -> str:
    """``16 MiB`` for a whole number of MiB, else ``1,000,000 bytes``."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n:,} bytes"


def read_urls(path: str, stream: IO[bytes]) -> Iterator[tuple[int, str] | InputError]:
    """A url list, one a line (blank lines and ``#`` comments skipped): (line, normal url)."""
    for number, raw in enumerate(_bounded_lines(stream, MAX_URL_CHARS * 4 + 2), 1):
        if raw is None:
            yield InputError(f"line is longer than a url can be ({MAX_URL_CHARS} characters)",
                             file=path, line=number)
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield InputError("not valid UTF-8", file=path, line=number)
            continue
        if not text or text.startswith("#"):
            continue
        try:
            yield number, checked_url(text, path, number)
        except InputError as error:
            yield error


# -- urls -----------------------------------------------------------------------------------


def normal_url(url: str) -> str:
    """The one spelling of a page's url: what import stores and every lookup compares.

    Scheme and host in lower case; the default port (``:80`` for http, ``:443`` for
    https) dropped; an empty path becomes ``/``; the ``#fragment`` dropped; tracking
    parameters (``utm_*`` and ``TRACKING_PARAMETERS``) dropped from the query, the other
    parameters kept in their order and spelling. The path is kept as written: case and a
    trailing ``/`` can name another page on many servers (import warns about
    ``/x`` next to ``/x/``). ``url`` must already be a valid absolute http(s) URL.
    """
    return _normal(urlsplit(url))


def _normal(parts: SplitResult) -> str:
    netloc = parts.netloc
    if not parts.query and parts.path and parts.scheme.islower() and netloc.islower() and ":" not in netloc:
        return f"{parts.scheme}://{netloc}{parts.path}"  # the usual case, already normal
    scheme = parts.scheme.lower()
    userinfo, at, hostport = parts.netloc.rpartition("@")
    match = _HOST_PORT_RE.match(hostport)
    host, port = (match.group(1), match.group(2) or "") if match else (hostport, "")
    netloc = f"{userinfo}{at}{host.lower()}"
    if port and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    query = "&".join(
        p for p in parts.query.split("&") if p and not _is_tracking(p.split("=", 1)[0])
    )
    return f"{scheme}://{netloc}{parts.path or '/'}{'?' + query if query else ''}"


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in TRACKING_PARAMETERS


def other_slash(url: str) -> str | None:
    """The same normal url with the trailing ``/`` of its path toggled (None for ``/``)."""
    base, q, query = url.partition("?")
    path_start = base.find("/", base.find("://") + 3)
    if path_start < 0 or base[path_start:] == "/":
        return None
    toggled = base[:-1] if base.endswith("/") else base + "/"
    return f"{toggled}{q}{query}"


def checked_url(url: Any, path: str = "", line: int = 0) -> str:
    """``url`` as a normal absolute http(s) URL, or an InputError naming what is wrong."""

    def bad(message: str) -> InputError:
        return InputError(message, file=path, line=line, field="url")

    if url is None or (isinstance(url, str) and not url.strip()):
        raise bad("missing url")
    if not isinstance(url, str):
        raise bad(f"url must be a string, got {json_kind(url)}")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise bad(f"url is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        if ":" in parts.netloc:
            parts.port  # noqa: B018 - a port that is not a number raises here
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or _UNSAFE_URL_CHARS_RE.search(url) or _SURROGATE_RE.search(url):
        raise bad(f"url must be an absolute http(s) URL, got {shorten(url, 61)!r}")
    return _normal(parts)


# -- validating -----------------------------------------------------------------------------


def _validate(path: str, line: int, data: dict[str, Any], max_content_bytes: int) -> PageRow:
    def bad(message: str, name: str) -> InputError:
        return InputError(message, file=path, line=line, field=name)

    url = checked_url(data.get("url"), path, line)
    notes: list[str] = []

    title = data.get("title")
    if title is not None:
        if not isinstance(title, str):
            raise bad(f"title must be a string, got {json_kind(title)}", "title")
        title = title.replace("\x00", "")
        if len(title) > MAX_TITLE_CHARS:
            raise bad(f"title is {len(title):,} characters, over the {MAX_TITLE_CHARS:,} limit", "title")
        if _SURROGATE_RE.search(title):
            raise bad("title is not valid Unicode (unpaired surrogate)", "title")

    h1 = data.get("h1")
    if h1 is not None:
        if not isinstance(h1, str):
            raise bad(f"h1 must be a string, got {json_kind(h1)}", "h1")
        h1 = collapse_whitespace(h1.replace("\x00", ""))
        if len(h1) > MAX_TITLE_CHARS:
            raise bad(f"h1 is {len(h1):,} characters, over the {MAX_TITLE_CHARS:,} limit", "h1")
        if _SURROGATE_RE.search(h1):
            raise bad("h1 is not valid Unicode (unpaired surrogate)", "h1")

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
            content = cut_at_word(content, max_content_bytes)
            notes.append(
                f"content is {size:,} bytes; cut at a word boundary to the "
                f"{max_content_bytes:,}-byte limit (field 'content')"
            )

    attributes: dict[str, Any] = {}
    nested = data.get("attributes")
    if isinstance(nested, dict):
        attributes.update(nested)
    elif nested is not None:
        attributes["attributes"] = nested
    attributes.update(
        (k, v) for k, v in data.items()
        if k not in (*_PAGE_COLUMNS, "attributes") and k not in OUTPUT_COLUMNS
    )
    if attributes:
        encoded = json.dumps(attributes, ensure_ascii=False)
        if len(encoded.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTES_BYTES:
            raise bad(f"other columns hold over {MAX_ATTRIBUTES_BYTES:,} bytes", "attributes")
        if "\\u0000" in encoded or _SURROGATE_RE.search(encoded):
            raise bad("a NUL character or unpaired surrogate in an extra column", "attributes")
    if h1 is None:
        h1 = heading_of(content)
    return PageRow(line, url, title, content, attributes or None, tuple(notes), h1 or None)


def cut_at_word(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` within ``max_bytes`` UTF-8 bytes that ends at a word.

    Cut inside a word only when the last space is far back (a single 1 MB "word").
    """
    head = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    if len(head) < len(text) and not text[len(head)].isspace():
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if space >= 0 and space >= len(head) - 1000:
            head = head[:space]
    return head.rstrip()


def heading_of(content: str) -> str | None:
    """The text of the first ``<h1>`` of HTML ``content``, or None."""
    if "<h1" not in content and "<H1" not in content:
        return None
    m = _H1_RE.search(content)
    if m is None:
        return None
    return collapse_whitespace(html_to_text(m.group(1)))[:MAX_TITLE_CHARS] or None


def read_rows(
    path: str,
    fmt: str,
    stream: IO[bytes],
    *,
    max_content_bytes: int = MAX_CONTENT_BYTES,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> Iterator[PageRow | InputError]:
    """Each row of ``stream`` (the file at ``path``), checked: a PageRow or an InputError.

    Raises InputError for a file that cannot be read as ``fmt`` at all (CSV without url).
    """
    limit = max_row_bytes
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

