"""Text hygiene shared by prompts (page text going out) and output (model text coming in).

Page text and model replies are untrusted. Characters a reader cannot see (the Unicode
tag block, zero-width and bidi controls) are a known way to smuggle instructions into a
prompt or to disguise output, so both directions remove them. Untrusted values named in
an error message are shortened and typed here too (``printable_line``, ``json_kind``).
"""

from __future__ import annotations

import html
import re

#: Characters nobody sees: C0/C1 controls (tab and newline handled apart), zero-width and
#: joiners, bidi embeddings/overrides/isolates, BOM, soft hyphen, word joiners, variation
#: selectors, the tag block (U+E0000-E007F), interlinear annotations, and unpaired
#: surrogates (which no database or encoder accepts).
INVISIBLE_RE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000e0000-\U000e0fff"
    "\ud800-\udfff"
    "]"
)

#: An HTML tag, comment, doctype or processing instruction (``<`` then a tag-start char).
TAG_RE = re.compile(r"<!--.*?(?:-->|$)|<[A-Za-z/!?][^>]*(?:>|$)", re.DOTALL)
#: A ``<`` that a browser would read as the start of a tag.
TAG_OPEN_RE = re.compile(r"<(?=[A-Za-z/!?])")
_SCRIPT_STYLE_RE = re.compile(
    r"<(script|style|noscript|template|svg|head)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL
)
_BLOCK_END_RE = re.compile(
    r"<(?:br|hr)\b[^>]*>|</(?:p|div|li|h[1-6]|tr|table|section|article|header|footer|ul|ol|"
    r"blockquote|pre|dd|dt|figure|figcaption|main|nav|aside)\s*>",
    re.IGNORECASE,
)
#: The ASCII members of ``INVISIBLE_RE`` (C0 controls but tab, LF and CR; DEL), as bytes.
_ASCII_INVISIBLE = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def strip_invisible(text: str) -> str:
    """Remove the characters of ``INVISIBLE_RE``; tabs, newlines and spaces stay."""
    if text.isascii():
        # Same result, six times faster than the regex on page-sized text (the collector
        # runs this on every page): only ASCII controls can be invisible here.
        raw = text.encode("ascii")
        kept = raw.translate(None, _ASCII_INVISIBLE)
        return text if len(kept) == len(raw) else kept.decode("ascii")
    return INVISIBLE_RE.sub("", text)


def collapse_whitespace(text: str) -> str:
    """All runs of whitespace (any Unicode space, newline, NBSP) become one space; trimmed."""
    return " ".join(text.split())


def html_to_text(text: str) -> str:
    """Readable text from (possibly) HTML: scripts/styles dropped, tags removed,
    entities decoded, paragraph breaks kept as single newlines. Plain text passes through
    with its whitespace tidied."""
    text = _SCRIPT_STYLE_RE.sub(" ", text)
    text = _BLOCK_END_RE.sub("\n", text)
    text = TAG_RE.sub(" ", text)
    text = html.unescape(text)
    text = strip_invisible(text)
    # Runs of whitespace become one space within a line, and line breaks with blank lines
    # and spaces around them one newline; trimmed. (str.split() and re's \s agree on what
    # whitespace is; this is several times faster than the two regex passes it replaces.)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join([line for line in lines if line])


def one_line(text: str | None, limit: int) -> str:
    """A single tidy line of at most ``limit`` characters (for the URL:/Title: lines)."""
    line = collapse_whitespace(strip_invisible(text or ""))
    return line if len(line) <= limit else truncate_words(line, limit)


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def printable_line(text: str, width: int) -> str:
    """``text`` as one printable line of at most ``width`` characters: how an error or a
    reason is shown to people and stored (PostgreSQL refuses NUL and lone surrogates)."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return shorten(collapse_whitespace(text), width)


#: How an error message names the type of a decoded JSON value.
_JSON_KINDS: dict[type, str] = {
    dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
}


def json_kind(value: object) -> str:
    """``"an object"``, ``"a list"``, ``"a string"``, ``"a number"``, ``"a boolean"`` or
    ``"null"``: the type of an untrusted JSON value, as an error message names it."""
    if value is None:
        return "null"
    return _JSON_KINDS.get(type(value), type(value).__name__)


def truncate_words(text: str, limit: int, marker: str = " …") -> str:
    """Cut ``text`` to at most ``limit`` characters, at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    room = max(limit - len(marker), 0)
    cut = text[:room]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    # Back off to the word boundary only when it does not throw away much text.
    if space >= room * 0.8:
        cut = cut[:space]
    return cut.rstrip() + marker
