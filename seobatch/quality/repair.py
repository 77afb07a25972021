"""Deterministic repairs of a reply (seo-quality.md §4 "Repair"): model artefacts cut
away, the brand applied in code, over-wide text cut at a separator, sentence or word.

Every function returns the repaired text and the names of the repairs it applied
(``checks.REPAIRS``); the gate re-validates what comes out. No repair adds "…" (Google
adds its own) and no cut goes under the profile's minimum width.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .widths import text_units

# --- artefacts ---------------------------------------------------------------------

_LABEL_RE = re.compile(
    r"^(?:seo[ -])?(?:meta[ -])?(?:page[ -])?(?:title|titre|titel|t[ií]tulo|titolo|tytuł|заголовок|"
    r"description|beschreibung|descripci[oó]n|descrizione|descrição|opis|описание)\s*[:：=]\s+",
    re.IGNORECASE,
)
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_EMPH_RE = re.compile(r"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])")
_CODE_RE = re.compile(r"`([^`]*)`")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_HEADING_RE = re.compile(r"^(?:#{1,6}|[-*•>]|\d+[.)])\s+")
#: A title or description that ends as if cut: Google adds its own "…" when it cuts.
_TRAILING_ELLIPSIS_RE = re.compile(r"(?:\s*(?:…|\.\.\.+))+$")
_COUNT_RE = re.compile(
    r"\s*(?:[(\[]\s*~?\d+\s*(?:characters?|chars?|caract[eè]res|zeichen|caracteres|caratteri|znak[óo]w|"
    r"символ\w*|words?|mots|wörter|palabras|px|pixels?)(?:\s+long)?\s*[)\]]|[-–—]\s*\d+\s*(?:characters|chars)\b)"
    r"\s*\.?$",
    re.IGNORECASE,
)
_QUOTES = {
    '"': '"', "'": "'", "“": "”", "”": "”", "‘": "’", "«": "»", "»": "«", "„": "“", "「": "」", "『": "』", "‹": "›",
}
#: Chatter a model adds around its answer; allowed only where the page says it.
CHATTER_RE = re.compile(
    r"\b(?:here(?:'s| is| are) (?:an?|the|my|your|some)\b|sure[,!]|certainly[,!]|of course[,!]|why this works|"
    r"(?:optimi[sz]ed|suggested|improved|revised|alternative|new) (?:seo )?(?:title|meta description|description)|"
    r"character count|word count|\(\s*\d+\s*(?:characters?|chars?)\b|^note:)",
    re.IGNORECASE,
)
#: A word of every chatter phrase (lower case): without one, CHATTER_RE cannot match.
CHATTER_WORDS = frozenset({"here", "sure", "certainly", "course", "works", "title", "description", "count",
                           "character", "characters", "chars", "char", "note"})


def find_chatter(text: str, words: Iterable[str]) -> str | None:
    """The model chatter in ``text`` ("Here is a title:", "(48 characters)"), if any;
    ``words``: the lower-case words of ``text``, for the cheap test first."""
    if CHATTER_WORDS.isdisjoint(words):
        return None
    m = CHATTER_RE.search(text)
    return m.group(0) if m else None


def _may_have_artefact(text: str) -> bool:
    """False when no artefact pattern can match (most replies): each pattern needs a mark
    at the start, the end, or a Markdown character."""
    if not text:
        return False
    first, last = text[0], text[-1]
    head = text[:24]
    return (
        first in _QUOTES or first in "#-*•>_`[" or first.isdigit() or last in ")]*_`…" or text.endswith("...")
        or "*" in text or "__" in text or "`" in text or "](" in text
        or ((":" in head or "=" in head or "：" in head) and _LABEL_RE.match(text) is not None)
        or "char" in text[-14:].lower()
    )


def strip_artefacts(text: str) -> str:
    """``text`` without wrapping quotes, a ``Title:``-like label, Markdown emphasis, code,
    links or list/heading marks, a trailing "(48 characters)" or a trailing "…"."""
    if not _may_have_artefact(text):
        return text
    for _ in range(4):  # '**Title:** "X" (48 characters)' needs a few rounds
        before = text
        text = _LINK_RE.sub(r"\1", text)
        text = _BOLD_RE.sub(lambda m: m.group(1) or m.group(2), text)
        text = _EMPH_RE.sub(r"\1", text)
        text = _CODE_RE.sub(r"\1", text)
        text = _HEADING_RE.sub("", text)
        text = _LABEL_RE.sub("", text)
        text = _COUNT_RE.sub("", text)
        text = _TRAILING_ELLIPSIS_RE.sub("", text)
        text = _unquote(text.strip())
        if text == before:
            break
    return text


def _unquote(text: str) -> str:
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        inner = text[1:-1]
        if text[0] not in inner and text[-1] not in inner:  # '"A" and "B"' keeps its quotes
            return inner.strip()
    return text


# --- segments and brand -------------------------------------------------------------

_SEP_CHAR_RE = re.compile(r"[|｜–—·•/~:：-]")
_TRAILING_JUNK_RE = re.compile(r"""(?:[\s,;:|｜–—·•/~&+(\-…*"“‘«']|\.{2,})+$""")
_EDGE_PUNCT_RE = re.compile(r"^[\W_]+|[\W_]+$")


def split_segments(title: str) -> tuple[list[str], list[str]]:
    """The title's segments and the separators between them (``len(seps) == len(segs) - 1``).

    A separator is ``|`` or a full-width ``｜``/``：`` anywhere, ``:`` before a space, and
    ``-``, ``–``, ``—``, ``·``, ``•``, ``/``, ``~`` between spaces ("T-Shirts" and "Node.js"
    are one segment). Found by scanning for the characters and looking at their neighbours
    (one regex with the spacing rules cost a tenth of the gate's budget).
    """
    if _SEP_CHAR_RE.search(title) is None:
        return [title], []
    segments: list[str] = []
    separators: list[str] = []
    pos = 0
    n = len(title)
    for m in _SEP_CHAR_RE.finditer(title):
        i = m.start()
        if i < pos:
            continue  # inside the previous separator ("::")
        ch = title[i]
        after = title[i + 1] if i + 1 < n else ""
        before = title[i - 1] if i else ""
        if ch in "|｜：" or (ch == ":" and after.isspace()) or (before.isspace() and after.isspace()):
            start, end = i, i + 1
            while start > pos and title[start - 1].isspace():
                start -= 1
            while end < n and title[end].isspace():
                end += 1
            segments.append(title[pos:start])
            separators.append(title[start:end])
            pos = end
    segments.append(title[pos:])
    return segments, separators


def join_segments(segments: list[str], separators: list[str]) -> str:
    out = segments[0]
    for sep, seg in zip(separators, segments[1:], strict=False):
        out += sep + seg
    return out


def norm_key(text: str) -> str:
    """Case, punctuation and spacing folded: the form two texts are compared in."""
    return " ".join(re.findall(r"\w+", text.casefold()))


_PUNCT_SPACE = " \t.,;:!?¡¿'\"“”‘’«»()[]{}-–—|/·•"


def segment_key(segment: str) -> str:
    """A segment folded for comparison: case and the punctuation around it dropped (cheaper
    than ``norm_key``, and the same for the short segments a brand or duplicate is)."""
    return " ".join(segment.strip(_PUNCT_SPACE).casefold().split())


def dedupe_segments(segments: list[str], separators: list[str]) -> tuple[list[str], list[str]]:
    """The segments without any that repeats an earlier one ("X | Shop | Shop")."""
    if len(segments) < 2:
        return segments, separators
    seen: set[str] = set()
    keep_segs: list[str] = []
    keep_seps: list[str] = []
    for i, seg in enumerate(segments):
        key = segment_key(seg)
        if key and key in seen:
            continue
        seen.add(key)
        if keep_segs:
            keep_seps.append(separators[i - 1])
        keep_segs.append(seg)
    return keep_segs, keep_seps


def remove_brand(segments: list[str], separators: list[str], brand_key: str) -> tuple[list[str], list[str]]:
    """The segments without leading or trailing ones that are only the brand (any case,
    separator or punctuation: "Northwind – X", "X | NORTHWIND.", "X - Northwind");
    ``brand_key`` is ``segment_key(brand)``. Only the brand: ``[""], []``."""
    segments, separators = list(segments), list(separators)
    while len(segments) > 1 and segment_key(segments[-1]) == brand_key:
        segments.pop()
        separators.pop()
    while len(segments) > 1 and segment_key(segments[0]) == brand_key:
        segments.pop(0)
        separators.pop(0)
    if len(segments) == 1 and segment_key(segments[0]) == brand_key:
        return [""], []
    return segments, separators


def brand_pattern(brand: str) -> re.Pattern[str]:
    """The brand as a whole word or phrase, any case, any spacing."""
    words = [re.escape(w) for w in brand.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


# --- cutting to a width ---------------------------------------------------------------


def tidy_cut(text: str) -> str:
    """A cut text without trailing separators or punctuation and without an opening
    bracket it no longer closes."""
    text = _TRAILING_JUNK_RE.sub("", text)
    if text.count("(") > text.count(")"):
        text = _TRAILING_JUNK_RE.sub("", text[: text.rfind("(")])
    return text


def cut_at_separator(title: str, fits: Callable[[str], bool]) -> str | None:
    """The longest leading run of whole segments that ``fits``, or None."""
    segments, separators = split_segments(title)
    for n in range(len(segments) - 1, 0, -1):
        candidate = tidy_cut(join_segments(segments[:n], separators[: n - 1]))
        if candidate and fits(candidate):
            return candidate
    return None


def cut_at_word(text: str, max_units: float, fits: Callable[[str], bool]) -> str | None:
    """The longest prefix of ``text`` ending at a word boundary that ``fits``, or None.
    Starts from the widest prefix under ``max_units`` and walks back one word at a time."""
    used = 0
    end = 0
    for i, ch in enumerate(text):
        used += text_units(ch)
        if used > max_units:
            break
        end = i + 1
    pos = end if end < len(text) and text[end] == " " else text.rfind(" ", 0, end)
    while pos > 0:
        candidate = tidy_cut(text[:pos])
        if candidate and fits(candidate):
            return candidate
        pos = text.rfind(" ", 0, pos)
    return None


_SENTENCE_END_RE = re.compile(r"[.!?。！？](?=\s|$)")


def cut_at_sentence(text: str, fits: Callable[[str], bool]) -> str | None:
    """The longest run of whole sentences that ``fits``, or None."""
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    for end in reversed(ends):
        candidate = text[:end].strip()
        if candidate != text and fits(candidate):
            return candidate
    return None


__all__ = [
    "CHATTER_RE",
    "CHATTER_WORDS",
    "brand_pattern",
    "cut_at_sentence",
    "cut_at_separator",
    "cut_at_word",
    "dedupe_segments",
    "find_chatter",
    "join_segments",
    "norm_key",
    "remove_brand",
    "segment_key",
    "split_segments",
    "strip_artefacts",
    "tidy_cut",
]
