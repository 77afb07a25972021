"""Pixel widths: the shipped table against the font, the fallbacks, and where Google cuts."""

from __future__ import annotations

import json
import os
import unicodedata
from importlib import resources
from pathlib import Path

import pytest

from seobatch.quality import widths
from seobatch.quality.widths import (
    DESCRIPTION_FONT_PX,
    ELLIPSIS,
    TITLE_FONT_PX,
    text_width_px,
    truncate_at_px,
    width_is_estimated,
)

FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _font():
    """fontTools' view of Liberation Sans; skips on a laptop without it, fails under CI."""
    try:
        from fontTools.ttLib import TTFont  # test extra, not a runtime dependency
    except ImportError:
        if IN_CI:
            pytest.fail("fontTools is not installed (CI=true: the width table must be checked)")
        pytest.skip("fontTools is not installed")
    if not FONT.exists():
        if IN_CI:
            pytest.fail(f"{FONT} is missing: .ci/run installs fonts-liberation2 (CI=true: must run)")
        pytest.skip(f"{FONT} is missing (apt-get install fonts-liberation2)")
    return TTFont(str(FONT), lazy=True)


def test_the_table_holds_the_fonts_advance_for_every_visible_code_point():
    font = _font()
    hmtx, cmap = font["hmtx"], font.getBestCmap()
    upem = font["head"].unitsPerEm
    data = json.loads(resources.files("seobatch").joinpath("data", widths.TABLE_FILE).read_text("utf-8"))
    assert data["units_per_em"] == upem == widths.UNITS_PER_EM
    visible = {cp: g for cp, g in cmap.items() if unicodedata.category(chr(cp)) not in ("Cc", "Cf", "Co", "Cs")}
    assert data["count"] == len(visible) > 2000
    for cp, glyph in visible.items():
        assert widths.text_units(chr(cp)) == hmtx[glyph][0], f"U+{cp:04X}"


def test_the_table_covers_latin_greek_cyrillic_and_punctuation():
    _font()
    for text in ("AZaz09", "éèçñßøåœŁłŒ", "ĀāĞğŞşŻż", "ΑΩαω", "АЯая ЁёЇї", "–—‘’“”…€£¥•·", "ﬁﬂ"):
        assert not width_is_estimated(text), text


@pytest.mark.parametrize(
    ("text", "size", "px"),
    [
        # seo-quality.md §2.2, measured with HarfBuzz without kerning at 20 px.
        ("Discover Running Shoes: Everything You Need to Know | Acme Store", 20, 618.85),
        ("WAVE Tower Apartments – Your Travel Guide", 20, 412.37),
        ("Mary's Maple Bar Fast-Baking Recipe", 20, 335.05),
        ("W" * 70, 20, 1321.39),
        ("i" * 70, 20, 311.04),
        (ELLIPSIS, 20, 20.0),
    ],
)
def test_widths_are_the_sum_of_advances_without_kerning(text, size, px):
    assert text_width_px(text, size) == pytest.approx(px, abs=0.01)


def test_a_width_scales_with_the_font_size():
    text = "Hiking boots"
    assert text_width_px(text, DESCRIPTION_FONT_PX) == pytest.approx(text_width_px(text, TITLE_FONT_PX) * 0.7)


def test_full_width_characters_are_one_em_and_invisible_ones_nothing():
    assert text_width_px("防水ハイキング", 20) == 7 * 20
    assert text_width_px("한국어", 22) == 3 * 22
    assert text_width_px("ＡＢ", 20) == 40  # full-width forms
    assert text_width_px("e\u0301", 20) == text_width_px("e", 20) + text_width_px("\u0301", 20)
    assert text_width_px("a\u200bb", 20) == text_width_px("ab", 20)
    assert not width_is_estimated("防水ハイキング")


def test_a_script_the_font_lacks_is_measured_as_an_average_letter_and_marked_estimated():
    hindi = "हिन्दी"
    assert width_is_estimated(hindi)
    assert width_is_estimated(f"Boots {hindi}")
    assert not width_is_estimated("Boots")
    letters = [c for c in hindi if not unicodedata.combining(c) and unicodedata.category(c) not in ("Mn", "Me")]
    assert text_width_px(hindi, 20) == pytest.approx(len(letters) * widths.FALLBACK_UNITS * 20 / 2048)


def test_truncate_returns_the_whole_text_when_it_fits():
    text = "Waterproof Hiking Boots | Northwind"
    assert truncate_at_px(text, 600) == len(text)


def test_truncate_cuts_at_a_word_leaving_room_for_googles_ellipsis():
    text = "Discover Running Shoes: Everything You Need to Know | Acme Store"
    cut = truncate_at_px(text, 561)
    shown = text[:cut].rstrip() + ELLIPSIS
    assert text_width_px(shown, 20) <= 561
    assert text[cut] == " "  # a word boundary
    # One more word would not fit.
    longer = text[: text.index(" ", cut + 1)] + ELLIPSIS
    assert text_width_px(longer, 20) > 561


def test_truncate_cuts_text_without_spaces_between_characters():
    text = "防水ハイキングシューズ" * 4
    cut = truncate_at_px(text, 200)
    assert cut == 9  # 9 × 20 px + the 20 px ellipsis
    assert text_width_px(text[:cut] + ELLIPSIS, 20) <= 200
