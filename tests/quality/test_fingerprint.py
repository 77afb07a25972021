"""Fingerprints: what the site checks group by (seo-quality.md §3)."""

from __future__ import annotations

from seobatch.quality import fingerprint as fp


def test_norm_folds_case_punctuation_width_and_the_brand_but_keeps_digits():
    assert fp.norm("Hiking Boots – Waterproof | Northwind", "Northwind") == "hiking boots waterproof"
    assert fp.key("HIKING boots, waterproof!") == fp.key("Ｈｉｋｉｎｇ Boots – Waterproof")
    assert fp.key("Season 1") != fp.key("Season 2")
    assert fp.norm("Northwind", "Northwind") == "northwind"  # the brand alone stays


def test_one_template_filled_with_product_names_gives_one_skeleton():
    a = fp.skeleton_key("Buy the Ridgeline GTX boot online at the best place", "Ridgeline GTX boot")
    b = fp.skeleton_key("Buy the Aurora 2 tent online at the best place", "Aurora 2 tent")
    assert a == b and a is not None
    # A title of the page's own words only is no template.
    assert fp.skeleton_key("Ridgeline GTX boot", "Ridgeline GTX boot") is None


def test_site_is_host_and_language_code():
    assert fp.site_of("https://www.shop.example/x", "pt-BR") == "shop.example/pt"
    assert fp.site_of("https://shop.example/x", None) == "shop.example/"
