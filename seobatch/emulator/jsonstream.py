"""Decode ``{"requests": [ … ]}`` one element at a time while the body is still arriving.

An Anthropic create body can be 256 MB; parsing it whole would hold the bytes and the
parsed prompts at once (about a gigabyte). The emulator keeps only a compact summary of
each request, so it decodes the array element by element and drops each one at once.
Bodies of any other shape (other keys first, odd spacing) fall back to a whole parse.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

_WS = " \t\r\n"
_decoder = json.JSONDecoder()


class NotStreamable(Exception):
    """The body does not start with ``{"<key>": [``; ``.raw`` holds the bytes read so far."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("body is not a plain array under one key")
        self.raw = raw


def iter_array(pieces: Iterable[bytes], key: str) -> Iterator[Any]:
    """Yield the elements of ``{"<key>": [...]}`` from byte pieces.

    Raises NotStreamable before yielding anything if the body has another shape, and
    ValueError (with a JSON-ish message) if it is not valid JSON.
    """
    cur = _Cursor(pieces)
    for token in (f'{{"{key}":', "["):
        if not cur.skip_ws() or not cur.take(token):
            raise NotStreamable(cur.head_bytes())
    cur.keep_head = False
    first = True
    while True:
        if not cur.skip_ws():
            raise ValueError("unexpected end of the request body inside the array")
        if cur.take("]"):
            break
        if not first:
            if not cur.take(","):
                raise ValueError(f"expected ',' or ']' in the {key} array")
            if not cur.skip_ws():
                raise ValueError("unexpected end of the request body inside the array")
        yield cur.value(key)
        first = False
    if not cur.skip_ws() or not cur.take("}"):
        raise ValueError("expected '}' after the array")
    if cur.skip_ws():
        raise ValueError("unexpected data after the JSON body")


class _Cursor:
    """Text decoded from byte pieces as they arrive, with a read position.

    Invariant: ``buf[pos:]`` is the decoded input not consumed yet; reading a piece drops
    ``buf[:pos]``, so the buffer holds one element in progress, never the body.
    """

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._source = iter(pieces)
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self.buf = ""
        self.pos = 0
        self.ended = False  #: the source is exhausted; ``buf`` holds the rest
        self.keep_head = True  #: keep the raw pieces (until the array opens) for the fallback
        self._head: list[bytes] = []

    def head_bytes(self) -> bytes:
        """The raw bytes read so far (while ``keep_head``): NotStreamable hands them back."""
        return b"".join(self._head)

    def more(self) -> bool:
        """Decode one more piece onto the buffer; False once the source is exhausted."""
        if self.ended:
            return False
        piece = next(self._source, None)
        if piece is None:
            self.ended = True
            self.buf = self.buf[self.pos:] + self._decode(b"", final=True)
        else:
            if self.keep_head:
                self._head.append(piece)
            self.buf = self.buf[self.pos:] + self._decode(piece)
        self.pos = 0
        return True

    def skip_ws(self) -> bool:
        """Move past whitespace, reading as needed; False at the end of the input."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return True
            if not self.more():
                return False

    def take(self, token: str) -> bool:
        """Consume ``token`` if the input continues with it."""
        while len(self.buf) - self.pos < len(token) and self.more():
            pass
        if not self.buf.startswith(token, self.pos):
            return False
        self.pos += len(token)
        return True

    def value(self, key: str) -> Any:
        """Decode the JSON value at ``pos`` once the delimiter after it has arrived."""
        retry_at = 0
        while True:
            if len(self.buf) - self.pos >= retry_at or self.ended:
                try:
                    value, end = _decoder.raw_decode(self.buf, self.pos)
                except json.JSONDecodeError as exc:
                    if self.ended:
                        raise ValueError(f"invalid JSON in the {key} array: {exc.msg}") from None
                    retry_at = 2 * (len(self.buf) - self.pos)  # wait for twice the data: no quadratic re-parsing
                else:
                    after = end
                    while after < len(self.buf) and self.buf[after] in _WS:
                        after += 1
                    # Accept once the delimiter is in sight: "12" of a cut "12e5" is not the value.
                    if self.ended or (after < len(self.buf) and self.buf[after] in ",]"):
                        self.pos = end
                        return value
                    retry_at = 2 * (len(self.buf) - self.pos)
            self.more()
