"""A streaming ``multipart/form-data`` reader (the OpenAI Files upload).

Parts are handed to a sink piece by piece as the body arrives, so a 200 MB file part
goes from the socket to disk without ever sitting in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')
MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not the multipart form its Content-Type announces."""


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a ``multipart/form-data; boundary=…`` Content-Type, or None."""
    value = content_type or ""
    if not value.lower().startswith("multipart/form-data"):
        return None
    params = disposition_params(value)
    boundary = params.get("boundary")
    return boundary.encode("latin-1") if boundary else None


def disposition_params(value: str) -> dict[str, str]:
    """``form-data; name="file"; filename="x.jsonl"`` → {"name": "file", "filename": "x.jsonl"}."""
    out: dict[str, str] = {}
    for m in _PARAM.finditer(value):
        quoted, bare = m.group(2), m.group(3)
        out[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return out


def parse(
    pieces: Iterable[bytes], boundary: bytes, open_part: Callable[[dict[str, str]], Callable[[bytes], None]]
) -> None:
    """Read every part: ``open_part(headers)`` returns the sink that gets the part's bytes."""
    delim = b"--" + boundary
    sep = b"\r\n" + delim
    buf = bytearray()
    source = iter(pieces)

    def fill() -> bool:
        piece = next(source, None)
        if piece is None:
            return False
        buf.extend(piece)
        return True

    while (at := buf.find(delim)) == -1:  # the preamble, if any
        if len(buf) > len(delim):
            del buf[: len(buf) - len(delim)]
        if not fill():
            raise MultipartError("the body holds no multipart boundary")
    del buf[: at + len(delim)]
    while True:
        while len(buf) < 2:
            if not fill():
                raise MultipartError("the body ends right after a boundary")
        if buf[:2] == b"--":
            for _ in source:  # the epilogue
                pass
            return
        if buf[:2] != b"\r\n":
            raise MultipartError("a boundary line is not followed by CRLF")
        del buf[:2]
        while (end := buf.find(b"\r\n\r\n")) == -1:
            if len(buf) > MAX_HEADER_BYTES:
                raise MultipartError("the headers of a part are too long")
            if not fill():
                raise MultipartError("the body ends inside the headers of a part")
        headers: dict[str, str] = {}
        for line in bytes(buf[:end]).decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        del buf[: end + 4]
        sink = open_part(headers)
        keep = len(sep) - 1
        while (at := buf.find(sep)) == -1:
            if len(buf) > keep:
                sink(bytes(buf[: len(buf) - keep]))
                del buf[: len(buf) - keep]
            if not fill():
                raise MultipartError("the body ends inside a part")
        if at:
            sink(bytes(buf[:at]))
        del buf[: at + len(sep)]
