"""Pixel widths of text as Google's results page renders it (Arial metrics).

The advances come from ``seobatch/data/widths_liberation_sans.json``, generated from
Liberation Sans Regular (metric-compatible with Arial; SIL OFL, licence next to the table)
by ``scripts/gen_widths.py``. How a width is computed (seo-quality.md §2.2):

- the sum of the glyph advances (hmtx) times ``size_px / units_per_em``. **No kerning**:
  kerning only narrows Liberation/Arial text (0–9 px on a title), Chrome may switch it off
  at small sizes, and the plain sum equals HarfBuzz without kerning, so it is the safe
  upper bound for an "over the limit" test. Because of that bound no extra margin is
  subtracted from the limits; widths are compared unrounded and reported to 0.1 px.
- a character the font lacks: full-width or wide (``east_asian_width`` F/W: CJK, kana,
  Hangul, full-width forms) is one em, the measured model of Google's zh-TW results;
  combining marks and invisible format characters are zero; anything else (Arabic,
  Devanagari, Thai, emoji…) is the average advance of the Latin lowercase letters
  ``etaoinshrdlu`` (0.45 em) and the width is then an estimate (``width_is_estimated``).
- text is measured as given: callers pass sanitised NFC text (``output.parse_reply``
  produces it), so no normalisation is repeated here.
"""

from __future__ import annotations

import json
import unicodedata
from importlib import resources

#: Google's desktop font sizes (seo-quality.md §2.1): titles 20 px, descriptions 14 px Arial.
TITLE_FONT_PX = 20.0
DESCRIPTION_FONT_PX = 14.0
#: What Google appends to a cut title or snippet.
ELLIPSIS = "…"
TABLE_FILE = "widths_liberation_sans.json"
#: Characters measured by the fallback and then remembered (bounds memory on hostile text).
_MEMO_LIMIT = 50_000


def _load() -> tuple[dict[str, int], int, int, int]:
    data = json.loads(resources.files("seobatch").joinpath("data", TABLE_FILE).read_text(encoding="utf-8"))
    table = {}
    for start, advances in data["runs"]:
        for offset, units in enumerate(advances):
            table[chr(start + offset)] = units
    return table, data["units_per_em"], data["fallback_units"], data["fullwidth_units"]


_FONT, UNITS_PER_EM, FALLBACK_UNITS, FULLWIDTH_UNITS = _load()


def fallback_units(ch: str) -> int:
    """Font units for a character Liberation Sans has no glyph for."""
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return FULLWIDTH_UNITS
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc"):
        return 0
    return FALLBACK_UNITS


class _Advances(dict[str, int]):
    """char → font units; a character the font lacks is measured once by ``fallback_units``
    (``__missing__`` keeps the common path one C-level dict lookup per character)."""

    def __missing__(self, ch: str) -> int:
        units = fallback_units(ch)
        if len(self) < len(_FONT) + _MEMO_LIMIT:
            self[ch] = units
            if units == FALLBACK_UNITS:
                _AVERAGED.add(ch)
        return units


_ADVANCES = _Advances(_FONT)
#: Characters measured by the average-letter fallback so far (among those remembered).
_AVERAGED: set[str] = set()
_UNITS = _ADVANCES.__getitem__


def text_units(text: str) -> int:
    """The width of ``text`` in font units (``UNITS_PER_EM`` to the em)."""
    return sum(map(_UNITS, text))


def text_width_px(text: str, size_px: float) -> float:
    """The rendered width of ``text`` in pixels at ``size_px`` (no kerning: an upper bound)."""
    return sum(map(_UNITS, text)) * size_px / UNITS_PER_EM


def width_is_estimated(text: str) -> bool:
    """True when some visible character of ``text`` is neither in the font nor full-width,
    so its width came from the average-letter fallback."""
    if text.isascii():
        return False
    if len(_ADVANCES) < len(_FONT) + _MEMO_LIMIT:
        text_units(text)  # remembers every new character, and the averaged ones in _AVERAGED
        return not _AVERAGED.isdisjoint(text)
    return any(ch not in _FONT and fallback_units(ch) == FALLBACK_UNITS for ch in text)


def averaged_in(text: str) -> bool:
    """``width_is_estimated`` for text whose width was just measured (``text_units``
    remembered its characters): no second pass over it."""
    if not _AVERAGED or text.isascii():
        return False
    if len(_ADVANCES) >= len(_FONT) + _MEMO_LIMIT:
        return width_is_estimated(text)
    return not _AVERAGED.isdisjoint(text)


def truncate_at_px(text: str, max_px: float, size_px: float = TITLE_FONT_PX) -> int:
    """Where Google would cut ``text`` shown in ``max_px`` at ``size_px``: ``len(text)`` when
    it fits, else the index ``i`` such that ``text[:i].rstrip() + "…"`` is what shows.

    Google cuts at a word boundary and adds its own "…" (seo-quality.md §2.1), so the
    visible budget is ``max_px`` minus the ellipsis. Text without a space in the part that
    fits (one long word, CJK) is cut between characters.
    """
    budget = max_px * UNITS_PER_EM / size_px
    if text_units(text) <= budget:
        return len(text)
    budget -= text_units(ELLIPSIS)
    used = 0
    fit = 0
    for i, ch in enumerate(text):
        used += _UNITS(ch)
        if used > budget:
            break
        fit = i + 1
    space = text.rfind(" ", 0, fit + 1)  # a space right after the fitting part is a boundary too
    if space > 0 and text[:space].strip():
        return space
    return fit


__all__ = [
    "DESCRIPTION_FONT_PX",
    "ELLIPSIS",
    "TITLE_FONT_PX",
    "UNITS_PER_EM",
    "averaged_in",
    "fallback_units",
    "text_units",
    "text_width_px",
    "truncate_at_px",
    "width_is_estimated",
]
