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
    source = iter(pieces)
    head_raw: list[bytes] | None = []  # bytes read before the array opened (for the fallback)
    decode = codecs.getincrementaldecoder("utf-8")().decode
    buf, pos, ended = "", 0, False

    def more() -> bool:
        nonlocal buf, pos, ended
        if ended:
            return False
        piece = next(source, None)
        if head_raw is not None and piece is not None:
            head_raw.append(piece)
        if piece is None:
            ended = True
            buf = buf[pos:] + decode(b"", final=True)
        else:
            buf = buf[pos:] + decode(piece)
        pos = 0
        return True

    def skip_ws() -> bool:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            if pos < len(buf):
                return True
            if not more():
                return False

    head = f'{{"{key}":'
    for token in (head, "["):
        if not skip_ws():
            raise NotStreamable(b"".join(head_raw))
        while len(buf) - pos < len(token) and more():
            pass
        if not buf.startswith(token, pos):
            raise NotStreamable(b"".join(head_raw))
        pos += len(token)
    head_raw = None
    first, retry_at = True, 0
    while True:
        if not skip_ws():
            raise ValueError("unexpected end of the request body inside the array")
        if buf[pos] == "]":
            pos += 1
            break
        if not first:
            if buf[pos] != ",":
                raise ValueError(f"expected ',' or ']' in the {key} array")
            pos += 1
            if not skip_ws():
                raise ValueError("unexpected end of the request body inside the array")
        while True:
            if len(buf) - pos >= retry_at or ended:
                try:
                    value, end = _decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if ended:
                        raise ValueError(f"invalid JSON in the {key} array: {exc.msg}") from None
                    retry_at = 2 * (len(buf) - pos)  # wait for twice the data: no quadratic re-parsing
                else:
                    after = end
                    while after < len(buf) and buf[after] in _WS:
                        after += 1
                    # Accept once the delimiter is in sight: "12" of a cut "12e5" is not the value.
                    if ended or (after < len(buf) and buf[after] in ",]"):
                        break
                    retry_at = 2 * (len(buf) - pos)
            if not more():
                continue
        retry_at = 0
        pos = end
        first = False
        yield value
    if not skip_ws() or buf[pos] != "}":
        raise ValueError("expected '}' after the array")
    pos += 1
    if skip_ws():
        raise ValueError("unexpected data after the JSON body")
