"""Script and language identification (py3langid, model inside the wheel)."""

from __future__ import annotations

import pytest

from seobatch.quality.language import (
    best_and_expected,
    identify,
    language_name,
    language_of_script,
    main_script,
    normalise_language,
    script_letters,
    script_share,
    scripts_of,
)


@pytest.mark.parametrize(
    ("value", "code"),
    [("fr", "fr"), ("pt-BR", "pt"), ("de_DE", "de"), ("Deutsch", "de"), ("German", "de"), ("français", "fr"),
     ("nb", "no"), ("EN", "en"), ("", None), (None, None), ("Klingon dialect", None), ("12", None)],
)
def test_attribute_values_become_language_codes(value, code):
    assert normalise_language(value) == code


def test_scripts_are_counted_by_letters_full_width_twice():
    # Latin alone: characters other than spaces (and non-ASCII punctuation) stand in for letters.
    assert script_letters("Hiking boots") == {"latin": 11}
    assert script_letters("Northwind – “Gear” for every trail…") == {"latin": 26}
    assert script_letters("Водонепроницаемые ботинки Northwind") == {"cyrillic": 24, "latin": 9}
    assert script_letters("Apple ケース") == {"latin": 5, "kana": 6}
    assert main_script("防水トレッキングシューズ") == "kana"
    assert main_script("123 !!") is None


def test_the_page_script_and_what_a_script_implies():
    assert scripts_of("ru") == {"cyrillic"} and scripts_of("fr") == {"latin"} and "kana" in scripts_of("ja")
    assert script_share({"latin": 30}, scripts_of("hi")) == 0.0
    assert language_of_script(scripts_of("ja"), {"kana": 10}) == "ja"
    assert language_of_script(scripts_of("ko"), {"hangul": 4}) == "ko"
    assert language_of_script(scripts_of("ru"), {"cyrillic": 10}) is None  # Russian, Ukrainian, Bulgarian…


def test_the_identifier_ships_its_model_and_tells_languages_apart():
    ranked = identify("Des chaussures de randonnée légères et imperméables, livrées en deux jours.")
    assert ranked[0][0] == "fr" and ranked[0][1] > 0.9
    best, p_best, p_fr = best_and_expected("Light waterproof hiking boots with a grippy sole for rocky trails.", "fr")
    assert best == "en" and p_best > 0.9 and p_fr < 0.01


def test_close_languages_keep_a_share_for_the_expected_one():
    # Norwegian read as Danish (or the other way) is not a confident mismatch.
    best, p_best, p_no = best_and_expected("Vandresko til kvinder. Lette, vandtætte vandresko med god sål.", "no")
    assert p_no > 0.02 or best == "no"


def test_language_names_for_reasons():
    assert language_name("fr") == "French" and language_name("xx") == "xx"
