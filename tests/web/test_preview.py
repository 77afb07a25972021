"""The result preview's cut (pure computation) and the nightly chart's numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seobatch.web import preview as pv
from seobatch.web.app import create_app
from seobatch.web.chart import nice_max, nightly_chart
from seobatch.web.preview import DESKTOP, MOBILE, Field, cut

from tests.web.conftest import WEB_SECRET, web_settings
from tests.web.widths import half_em


def test_a_title_that_fits_is_shown_whole():
    c = cut("Oak dining chairs | Acme", DESKTOP.title, half_em)
    assert not c.truncated and c.shown == c.text and c.lines == (c.text,)
    assert c.width_px == 24 * 10 and c.budget_px == 600


def test_a_long_title_is_cut_at_a_word_with_an_ellipsis_and_the_rest_is_kept():
    title = "Oak dining chairs made by hand in our workshop, delivered assembled | Acme Store"
    c = cut(title, DESKTOP.title, half_em)
    assert c.truncated and c.shown.endswith("…")
    assert c.shown == "Oak dining chairs made by hand in our workshop, delivered…"
    assert c.hidden == "assembled | Acme Store"
    assert half_em(c.shown, 20) <= 600


def test_one_word_wider_than_the_line_is_cut_between_characters():
    c = cut("x" * 100, DESKTOP.title, half_em)
    assert c.shown == "x" * 59 + "…" and c.hidden == "x" * 41


def test_a_long_word_broken_across_lines_shows_without_an_added_space():
    c = cut("x" * 120, MOBILE.title, half_em)
    assert c.lines == ("x" * 50, "x" * 49 + "…") and c.shown == "x" * 99 + "…" and c.hidden == "x" * 21


def test_mobile_wraps_into_two_lines_before_it_cuts():
    words = "chair " * 30
    c = cut(words, MOBILE.title, half_em)  # 16 px, 400 px lines: 50 characters a line
    assert len(c.lines) == 2 and c.truncated and c.lines[1].endswith("…")
    assert all(half_em(line, 16) <= 400 for line in c.lines)
    assert c.lines[0] == ("chair " * 8).strip()


def test_trailing_separators_are_not_left_before_the_ellipsis():
    c = cut("Oak chairs and tables for every room - " + "z" * 40, Field(20, 400, 1), half_em)
    assert c.shown == "Oak chairs and tables for every room…"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab W.-|é漢 "), max_size=300),
       st.sampled_from([DESKTOP.title, DESKTOP.description, MOBILE.title, MOBILE.description]))
def test_every_visible_line_fits_and_nothing_is_lost(text, field):
    c = cut(text, field, half_em)
    assert len(c.lines) <= field.lines
    assert all(half_em(line, field.size_px) <= field.line_px for line in c.lines)
    words = " ".join(text.split())
    if c.truncated:
        assert c.shown.endswith("…") and c.lines[-1].endswith("…")
        assert words.startswith(c.shown[:-1])  # what shows is the text's beginning
        assert c.hidden and words.endswith(c.hidden)  # and what is hidden its end
        assert len(c.shown) - 1 + len(c.hidden) <= len(words)
        assert "".join(c.lines).replace(" ", "")[:-1] == c.shown[:-1].replace(" ", "")
    else:
        assert " ".join(c.lines) == words


def test_the_app_measures_with_the_quality_gates_table_by_default(web_db):
    from seobatch.quality.widths import text_width_px  # the default under test

    app = create_app(web_settings(web_db), secret_key=WEB_SECRET)
    assert app.extensions["seobatch.width_fn"] is text_width_px
    title = "Discover Running Shoes: Everything You Need to Know | Acme Store"  # 619 px (seo-quality §2.2)
    desktop, _ = pv.preview("https://x.example/", title, "d", text_width_px)
    assert desktop.title.width_px == round(text_width_px(desktop.title.text, 20), 1) and desktop.title.truncated
    assert not desktop.estimated
    assert pv.preview("u", "Заголовок ملف", "", text_width_px)[0].estimated  # Arabic is not in the font


def test_nice_max_rounds_up_to_1_2_5():
    assert [nice_max(v) for v in (0, 0.034, 7, 10, 11, 120_000)] == [1.0, 0.05, 10, 10, 20, 200_000]


def test_the_chart_scales_bars_to_pages_and_the_line_to_cost():
    nights = [{"night": f"2026-11-{d:02d}", "jobs": 1, "pages": d * 100, "cost_usd": d / 100,
               "interactive_usd": d / 50} for d in range(1, 11)]
    chart = nightly_chart(nights)
    assert len(chart.bars) == 10 and len(chart.dots) == 10 and not chart.empty
    tallest = max(chart.bars, key=lambda b: b["h"])
    assert tallest["title"].startswith("2026-11-10: 1,000 pages written")
    assert chart.bars[4]["h"] == pytest.approx(tallest["h"] / 2, abs=0.2)
    assert chart.left_ticks[-1]["text"] == "1,000" and chart.right_ticks[-1]["text"] == "$0.1000"
    assert [t["text"] for t in chart.left_ticks] == ["0", "200", "400", "600", "800", "1,000"]
    assert nightly_chart([]).empty


def test_axis_ticks_are_round_numbers():
    for pages, ticks in ((3, ["0", "1", "2", "3", "4", "5"]), (2, ["0", "0.5", "1", "1.5", "2"]),
                         (150_000, ["0", "50,000", "100,000", "150,000", "200,000"])):
        chart = nightly_chart([{"night": "2026-11-01", "jobs": 1, "pages": pages, "cost_usd": 0.0,
                                "interactive_usd": 0.0}])
        assert [t["text"] for t in chart.left_ticks] == ticks
