"""QualityProfile: defaults from seo-quality.md 2.1, environment settings, impossible profiles."""

from __future__ import annotations

import pytest

from seobatch.errors import ConfigError
from seobatch.quality import ENV, QualityProfile


def test_defaults_are_the_desktop_profile():
    p = QualityProfile()
    assert (p.title_min_px, p.title_warn_px, p.title_max_px, p.title_font_px) == (200, 561, 600, 20)
    assert (p.description_min_px, p.description_warn_px, p.description_max_px, p.description_font_px) == (
        400, 985, 1970, 14)
    assert p.brand == "" and p.brand_format == "{title} | {brand}"


def test_every_field_is_an_seobatch_environment_setting():
    assert set(ENV) == {f for f in QualityProfile.__dataclass_fields__}
    assert all(name.startswith("SEOBATCH_") for name in ENV.values())


def test_from_env_reads_numbers_and_the_brand():
    p = QualityProfile.from_env({
        "SEOBATCH_TITLE_MAX_PX": "580", "SEOBATCH_TITLE_WARN_PX": "550", "SEOBATCH_BRAND": "  Northwind   Outdoor ",
        "SEOBATCH_BRAND_FORMAT": "{brand}: {title}", "SEOBATCH_TITLE_STUFFING": "4", "SEOBATCH_DESCRIPTION_MAX_CUT": "",
    })
    assert p.title_max_px == 580 and p.title_warn_px == 550 and p.title_stuffing == 4
    assert p.brand == "Northwind Outdoor" and p.brand_first and p.brand_separator == ":"
    assert p.description_max_cut == 0.3  # empty: the default
    assert QualityProfile.from_env({}) == QualityProfile()


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SEOBATCH_TITLE_MAX_PX": "wide"}, ["SEOBATCH_TITLE_MAX_PX"]),
        ({"SEOBATCH_TITLE_STUFFING": "2.5"}, ["SEOBATCH_TITLE_STUFFING"]),
        ({"SEOBATCH_TITLE_MAX_PX": "inf"}, ["SEOBATCH_TITLE_MAX_PX"]),
        ({"SEOBATCH_TITLE_MIN_PX": "600"}, ["SEOBATCH_TITLE_MIN_PX", "SEOBATCH_TITLE_MAX_PX"]),
        ({"SEOBATCH_TITLE_WARN_PX": "700"}, ["SEOBATCH_TITLE_WARN_PX"]),
        ({"SEOBATCH_DESCRIPTION_MIN_PX": "2000"}, ["SEOBATCH_DESCRIPTION_MIN_PX"]),
        ({"SEOBATCH_DESCRIPTION_MAX_CUT": "1"}, ["SEOBATCH_DESCRIPTION_MAX_CUT"]),
        ({"SEOBATCH_TITLE_STUFFING": "1"}, ["SEOBATCH_TITLE_STUFFING"]),
        ({"SEOBATCH_LANGUAGE_CONFIDENCE": "0"}, ["SEOBATCH_LANGUAGE_CONFIDENCE"]),
        ({"SEOBATCH_TITLE_FONT_PX": "0"}, ["SEOBATCH_TITLE_FONT_PX"]),
        ({"SEOBATCH_BRAND_FORMAT": "{title} | Northwind"}, ["SEOBATCH_BRAND_FORMAT"]),
        ({"SEOBATCH_BRAND_FORMAT": "{title} | {brand} {x}"}, ["SEOBATCH_BRAND_FORMAT"]),
        ({"SEOBATCH_BRAND_FORMAT": "{title | {brand}"}, ["SEOBATCH_BRAND_FORMAT"]),
        ({"SEOBATCH_BRAND": "North{wind}"}, ["SEOBATCH_BRAND"]),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_the_variable(env, names):
    with pytest.raises(ConfigError) as exc:
        QualityProfile.from_env(env)
    for name in names:
        assert name in str(exc.value)


def test_a_brand_that_leaves_no_room_for_the_page_is_refused_at_start():
    brand = "The Northwind Outdoor Company Limited, Outfitters Since Eighteen Ninety"
    with pytest.raises(ConfigError) as exc:
        QualityProfile(brand=brand)
    message = str(exc.value)
    assert "SEOBATCH_BRAND" in message and "SEOBATCH_TITLE_MAX_PX" in message and "SEOBATCH_TITLE_MIN_PX" in message
    # The same brand fits once the limit leaves the room.
    assert QualityProfile(brand=brand, title_max_px=1200, title_warn_px=1100).brand == brand
