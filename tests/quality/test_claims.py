"""Claims a reply makes must be on the page: numbers in any format, offers, superlatives."""

from __future__ import annotations

import re

import pytest

from seobatch.quality.claims import find_ungrounded

PAGE = ("The Ridgeline costs $189.00 (149,00 € in France) and weighs 1.1 kg. 1 299 hikers rated it 4.8. "
        "Since 2019. Free returns within 60 days. 20% off this week. Voted best boot by Trail Magazine.")


def claims(text: str, page: str = PAGE) -> list[tuple[str, str]]:
    words = set(re.findall(r"\w+", text.lower()))
    return [(c.check, c.text) for c in find_ungrounded(text, words, lambda: page, page.lower)]


@pytest.mark.parametrize(
    "text",
    ["Ridgeline boot for $189", "Ridgeline at 149 €", "Ridgeline for €149.00", "Rated 4,8 by 1,299 hikers",
     "1299 hikers", "Since 2019", "Free returns for 60 days", "20% off the Ridgeline", "The best boot",
     "A boot for rocky trails", "Ridgeline 1.1 kg"],
)
def test_what_the_page_states_is_grounded(text):
    assert claims(text) == []


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("Ridgeline from $99", "ungrounded_price"),
        ("Ridgeline for 189.50 EUR", "ungrounded_price"),
        ("30% lighter boots", "ungrounded_percent"),
        ("Boots in 12 colours", "ungrounded_number"),
        ("The 2024 Ridgeline", "ungrounded_year"),
        ("Ridgeline 1.2 kg", "ungrounded_number"),
        ("Free shipping on boots", "ungrounded_offer"),
        ("Save 25% off today", "ungrounded_offer"),
        ("The cheapest boots", "ungrounded_superlative"),
        ("The #1 hiking boot", "ungrounded_superlative"),
        ("Les meilleures chaussures", "ungrounded_superlative"),
        ("Kostenloser Versand für Wanderschuhe", "ungrounded_offer"),
    ],
)
def test_what_the_page_does_not_state_is_a_claim(text, check):
    assert check in [c for c, _ in claims(text)]


def test_a_number_is_not_found_inside_a_longer_one():
    assert claims("Size 29", "Item 1299 and 290") == [("ungrounded_number", "29")]
    assert claims("49 €", "price 49,50 €") == [("ungrounded_price", "49")]
    assert claims("49 €", "price 49,00 €") == []


def test_a_reply_without_digits_or_claim_words_costs_no_page_lookup():
    def boom() -> str:
        raise AssertionError("the page was read")

    assert find_ungrounded("Light boots for rocky trails", {"light", "boots", "for", "rocky", "trails"}, boom, boom) == []
