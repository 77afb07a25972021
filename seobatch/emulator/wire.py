"""HTTP request and response values for the emulator's handlers (no socket code here).

Request bodies are read lazily, in pieces, from ``Content-Length`` or chunked framing
(``requests`` sends a generator body chunked), so a 60 MB upload never has to sit in
memory. Response bodies are bytes or an iterable of bytes (streamed chunked, or with a
Content-Length when the handler knows it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, overload

PIECE = 64 * 1024


class BodyTooLarge(Exception):
    """The request body passed the handler's limit (the body has been drained)."""


class BadBody(Exception):
    """The request body is not the JSON the handler needs."""


class BadFraming(Exception):
    """The request body's chunked framing is broken; the connection must close."""


class Body:
    """A request body read from the socket piece by piece."""

    def __init__(self, rfile: BinaryIO, headers: Any) -> None:
        self._rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        length = headers.get("Content-Length")
        self.length: int | None = None if self.chunked or length is None else int(length)
        self._left = self.length or 0  # bytes left (identity) or in the current chunk
        self._done = not self.chunked and self._left == 0
        self.read_bytes = 0

    def read(self, n: int = PIECE) -> bytes:
        """Up to ``n`` bytes; b"" at the end of the body."""
        if self._done:
            return b""
        if self.chunked and self._left == 0:
            self._next_chunk()
            if self._done:
                return b""
        data = self._rfile.read(min(n, self._left))
        if not data:
            raise BadFraming("connection closed in the middle of the body")
        self._left -= len(data)
        self.read_bytes += len(data)
        if self.chunked and self._left == 0:
            self._rfile.readline()  # CRLF after the chunk
        elif not self.chunked and self._left == 0:
            self._done = True
        return data

    def _next_chunk(self) -> None:
        line = self._rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadFraming(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self._done = True
        self._left = size

    def __iter__(self):
        while piece := self.read():
            yield piece

    def drain(self) -> None:
        for _ in self:
            pass

    @property
    def done(self) -> bool:
        return self._done


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, list[str]]
    headers: Any  # email.message.Message: case-insensitive get()
    body: Body
    base_url: str  # http://host:port as the client reached us
    params: dict[str, str] = field(default_factory=dict)
    provider: str = ""
    op: str = ""
    request_id: str = ""

    @overload
    def header(self, name: str) -> str | None: ...
    @overload
    def header(self, name: str, default: str) -> str: ...

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    @overload
    def arg(self, name: str) -> str | None: ...
    @overload
    def arg(self, name: str, default: str) -> str: ...

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def pieces(self, limit: int):
        """The body in pieces; BodyTooLarge (after draining) once past ``limit`` bytes."""
        if self.body.length is not None and self.body.length > limit:
            self.body.drain()
            raise BodyTooLarge(self.body.length)
        size = 0
        for piece in self.body:
            size += len(piece)
            if size > limit:
                self.body.drain()
                raise BodyTooLarge(size)
            yield piece

    def read_all(self, limit: int) -> bytes:
        """The whole body, or BodyTooLarge (after draining it) past ``limit`` bytes."""
        return b"".join(self.pieces(limit))

    def json(self, limit: int, *, empty: Any = None) -> Any:
        raw = self.read_all(limit)
        if not raw.strip():
            if empty is not None:
                return empty
            raise BadBody("the request body is empty")
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadBody(f"the request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    #: For an iterable body: the exact length if known (else chunked transfer encoding).
    length: int | None = None
    #: The body was deliberately cut short: close the connection without ending it.
    incomplete: bool = False
    #: Answer nothing and close the connection (the work may still have been done).
    drop: bool = False
    close: bool = False

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None,
             content_type: str = "application/json") -> Response:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status=status, body=data, headers=list(headers or []), content_type=content_type)


def iter_file(path: str, *, start: int = 0, stop: int | None = None) -> Iterable[bytes]:
    """Stream a file's bytes in pieces (optionally only ``[start, stop)``)."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = None if stop is None else stop - start
        while left is None or left > 0:
            piece = fh.read(PIECE if left is None else min(PIECE, left))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece


def mid_line(path: str, size: int) -> int:
    """A byte offset in the middle of a line near the middle of the file: where a
    ``truncate_results`` download stops."""
    with open(path, "rb") as fh:
        fh.seek(size // 2)
        fh.readline()
        start = fh.tell()
        line = fh.readline()
    if not line:
        return max(1, size // 2)
    return start + max(1, len(line) // 2)


def iter_lines(path: str) -> Iterator[bytes]:
    """Non-blank lines of a stored file, read from disk line by line."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield line


def sha256_b64(path: str) -> str:
    """A stored file's ``sha256Hash`` as Gemini sends it: base64 of the hex digest."""
    h = hashlib.sha256()
    for piece in iter_file(path):
        h.update(piece)
    return base64.b64encode(h.hexdigest().encode()).decode()
