"""Repairs: artefacts, segments and brand, cuts."""

from __future__ import annotations

import pytest

from seobatch.quality.repair import (
    cut_at_sentence,
    cut_at_separator,
    cut_at_word,
    dedupe_segments,
    find_chatter,
    join_segments,
    remove_brand,
    segment_key,
    split_segments,
    strip_artefacts,
    tidy_cut,
)
from seobatch.quality.widths import text_units


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"Waterproof Hiking Boots"', "Waterproof Hiking Boots"),
        ("“Waterproof Hiking Boots”", "Waterproof Hiking Boots"),
        ("«Chaussures de randonnée»", "Chaussures de randonnée"),
        ("Title: Waterproof Hiking Boots", "Waterproof Hiking Boots"),
        ("SEO Title: Waterproof Hiking Boots", "Waterproof Hiking Boots"),
        ("Meta description: Light boots.", "Light boots."),
        ('**Title:** "Waterproof Hiking Boots" (23 characters)', "Waterproof Hiking Boots"),
        ("# Waterproof Hiking Boots", "Waterproof Hiking Boots"),
        ("Waterproof *Hiking* Boots", "Waterproof Hiking Boots"),
        ("`Waterproof` Hiking Boots", "Waterproof Hiking Boots"),
        ("[Hiking Boots](https://x.example)", "Hiking Boots"),
        ("Waterproof Hiking Boots – 23 characters", "Waterproof Hiking Boots"),
        ("Waterproof Hiking Boots…", "Waterproof Hiking Boots"),
        ('"A" and "B" boots', '"A" and "B" boots'),
        ("Titleist golf balls: a review", "Titleist golf balls: a review"),
        ("10 Best Trails", "10 Best Trails"),
    ],
)
def test_artefacts_are_stripped_and_nothing_else(raw, clean):
    assert strip_artefacts(raw) == clean


def test_chatter_is_found_only_with_its_words():
    text = "Here is an optimized title: Ridgeline Boot"
    assert find_chatter(text, set(text.lower().replace(":", "").split())) == "Here is an"
    assert find_chatter("Ridgeline Boot", {"ridgeline", "boot"}) is None


def test_segments_split_at_separators_only():
    assert split_segments("T-Shirts - Node.js: 2024 Guide｜東京") == (
        ["T-Shirts", "Node.js", "2024 Guide", "東京"], [" - ", ": ", "｜"])
    assert split_segments("Time 10:30 - now") == (["Time 10:30", "now"], [" - "])
    segs, seps = split_segments("A | B – C")
    assert join_segments(segs, seps) == "A | B – C"


def test_duplicates_and_the_brand_come_off_the_ends():
    segs, seps = dedupe_segments(*split_segments("Boots | Northwind – NORTHWIND."))
    assert join_segments(segs, seps) == "Boots | Northwind"
    key = segment_key("Northwind")
    assert join_segments(*remove_brand(*split_segments("Northwind: Boots | Northwind"), key)) == "Boots"
    assert join_segments(*remove_brand(*split_segments("Boots by Northwind"), key)) == "Boots by Northwind"
    assert remove_brand(*split_segments("Northwind | Northwind"), key) == ([""], [])


def test_cuts_fit_and_end_cleanly():
    title = "Ridgeline Boot for Women: Rocky Trails | Mountain Paths & (Vibram Sole"
    limit = text_units("Ridgeline Boot for Women: Rocky Trails") + 1

    def fits(t: str) -> bool:
        return text_units(t) <= limit

    assert cut_at_separator(title, fits) == "Ridgeline Boot for Women: Rocky Trails"
    assert cut_at_word("Ridgeline Boot for Women with a (Vibram Sole", text_units("Ridgeline Boot for Women with a (Vib"),
                       lambda t: True) == "Ridgeline Boot for Women with a"
    assert cut_at_word("Unbreakable", 100, lambda t: True) is None
    assert tidy_cut("Boots, Shoes &") == "Boots, Shoes"
    assert cut_at_sentence("One. Two! Three", lambda t: len(t) < 10) == "One. Two!"
