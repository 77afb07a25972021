"""Invariants of the repairs, for any title (hypothesis): a published title is never over
the hard limit, never ends in "…", a cut never goes under the minimum, the brand appears
at most once, and every verdict is JSON."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from seobatch.quality import PageContext, QualityGate, QualityProfile, text_width_px
from seobatch.quality.repair import brand_pattern

TOKENS = [
    "Hiking", "Boots", "boots", "Waterproof", "for", "Women", "Ridgeline", "Trail", "Guide", "Extraordinarily",
    "Lightweight", "Mountaineering", "Northwind", "NORTHWIND", "northwind", "|", "–", "-", ":", "·", "/", "&",
    "(Vibram", "Sole)", "Home", "防水", "トレッキングシューズ", "Ботинки", "Éléments", "…", "...", '"', "**",
    "W" * 12, "Outdoor", "Northwind Outdoor", "2023", "$189",
]
PAGE = PageContext(
    "https://northwind.example/boots", title="Ridgeline boot", h1="Ridgeline", language="en",
    text="Ridgeline waterproof hiking boots for women, $189, rated the best trail boot of 2023 by our guides.",
)
DESCRIPTION = ("A waterproof hiking boot for women with a grippy Vibram sole and a padded collar, "
               "for long days on rocky trails.")
titles = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=24).map(" ".join)
profiles = st.builds(
    QualityProfile,
    brand=st.sampled_from(["", "Northwind", "Northwind Outdoor"]),
    brand_format=st.sampled_from(["{title} | {brand}", "{brand}: {title}", "{title} – {brand}"]),
    title_max_px=st.sampled_from([600.0, 480.0, 700.0]),
    title_warn_px=st.just(450.0),
    title_min_px=st.sampled_from([200.0, 120.0]),
)
GATES: dict[QualityProfile, QualityGate] = {}


def _gate(profile: QualityProfile) -> QualityGate:
    return GATES.setdefault(profile, QualityGate(profile))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=titles, profile=profiles)
@example(title="Hiking ... | Hiking", profile=QualityProfile())  # the duplicate removed, "..." at the end
@example(title="Hiking Boots… | Northwind", profile=QualityProfile(brand="Northwind"))
@example(title="… … … … …", profile=QualityProfile())
def test_repaired_titles_keep_every_invariant(title, profile):
    gate = _gate(profile)
    verdict = gate.judge(title, DESCRIPTION, PAGE)
    json.dumps(verdict.to_dict())
    width = text_width_px(verdict.title, profile.title_font_px)
    cut = {r.name for r in verdict.repairs} & {"title_cut_at_separator", "title_cut_at_word"}
    if cut:
        assert profile.title_min_px <= width <= profile.title_max_px, verdict.to_dict()
    if verdict.published:
        assert width <= profile.title_max_px, verdict.to_dict()
        assert not verdict.title.endswith(("…", "...")), verdict.to_dict()
        if profile.brand:
            assert len(brand_pattern(profile.brand).findall(verdict.title)) <= 1, verdict.to_dict()
    if "title_too_wide" in verdict.check_names:
        assert not verdict.published


@settings(max_examples=300, deadline=None)
@given(title=st.text(min_size=1, max_size=120), description=st.text(min_size=1, max_size=300))
def test_any_text_gets_a_verdict(title, description):
    verdict = _gate(QualityProfile(brand="Northwind")).judge(title, description, PAGE)
    assert verdict.action in ("publish", "flag", "reject")
    assert (verdict.reason is not None) == (verdict.action == "reject")
    json.dumps(verdict.to_dict())
