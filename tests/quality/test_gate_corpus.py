"""The gate on a corpus of replies: every check, in several languages, with the action the
ladder of seo-quality.md §4 gives each (publish, flag, reject) and the repairs applied."""

from __future__ import annotations

import json

import pytest

from seobatch.output import parse_reply
from seobatch.quality import CHECKS, PageContext, QualityGate, QualityProfile, Verdict, text_width_px

BRAND = QualityGate(QualityProfile(brand="Northwind"))
PLAIN = QualityGate(QualityProfile())

BOOTS_EN = PageContext(
    "https://northwind.example/boots/ridgeline", title="Ridgeline hiking boot", h1="Ridgeline Waterproof Hiking Boot",
    language="en",
    text=("The Ridgeline is a waterproof hiking boot for women with a grippy Vibram sole and a padded collar. "
          "It costs $189.00 and weighs 1.1 kg per pair. Free returns within 60 days. Sizes 38 to 48. "
          "Rated the best boot of 2023 by Trail Magazine. 20% off all boots this week in our winter sale."),
)
BOOTS_FR = PageContext(
    "https://northwind.example/fr/boots", title="Chaussures de randonnée", language="fr-FR",
    text=("Nos chaussures de randonnée imperméables pour femme sont légères et confortables. La semelle adhérente "
          "tient sur les sentiers rocheux, la membrane respirante garde les pieds au sec et le col rembourré "
          "protège la cheville pendant les longues journées de marche. Prix : 149,00 €."),
)
BOOTS_FR_UNDECLARED = PageContext("https://northwind.example/fr/b2", title=BOOTS_FR.title, text=BOOTS_FR.text)
BOOTS_FR_HTML = PageContext(
    "https://northwind.example/fr/b3", title=BOOTS_FR.title, language="fr",
    text="<html><head><style>body{margin:0}</style></head><body><div class='hero'><p>"
         + BOOTS_FR.text.replace(". ", ".</p><p class='x'>") + "</p></div></body></html>",
)
BOOTS_DE = PageContext(
    "https://northwind.example/de/boots", title="Wanderschuhe", language="Deutsch",
    text=("Unsere wasserdichten Wanderschuhe für Damen sind leicht und bequem. Die griffige Sohle hält auf "
          "felsigen Wegen, die atmungsaktive Membran hält die Füße trocken."),
)
BOOTS_RU = PageContext(
    "https://northwind.example/ru/boots", title="Ботинки", language="ru",
    text="Наши водонепроницаемые походные ботинки для женщин лёгкие и удобные. Цепкая подошва держит на тропах.",
)
BOOTS_JA = PageContext(
    "https://northwind.example/ja/boots", title="トレッキングシューズ", language="ja",
    text="軽量で快適な女性用の防水トレッキングシューズです。グリップ力のあるソールが岩場の道でも滑りにくく、足をドライに保ちます。",
)
BOOTS_HI = PageContext(
    "https://northwind.example/hi/boots", title="जूते", language="hi",
    text="महिलाओं के लिए हल्के और आरामदायक वाटरप्रूफ हाइकिंग जूते। पकड़ वाला तला पथरीले रास्तों पर टिकता है।",
)

EN_DESC = ("A waterproof hiking boot for women with a grippy Vibram sole and a padded collar, "
           "for long days on rocky trails.")
FR_DESC = ("Des chaussures de randonnée imperméables et légères pour femme, avec une semelle adhérente "
           "pour les sentiers rocheux.")
WIDE = ("Ridgeline Waterproof Hiking Boot for Women: Long Days on Rocky Trails and Mountain Paths "
        "with a Grippy Vibram Sole")

# (case id, gate, page, title, description, action, checks that must fire, repairs that must apply, final title)
CORPUS = [
    # Good replies publish untouched (or with the brand applied in code).
    ("good-en", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women", EN_DESC, "publish", [], [], None),
    ("good-en-brand-applied", BRAND, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women", EN_DESC, "publish",
     [], ["brand_applied"], "Ridgeline Waterproof Hiking Boot for Women | Northwind"),
    ("good-fr", BRAND, BOOTS_FR, "Chaussures de randonnée imperméables", FR_DESC, "publish", [], ["brand_applied"],
     "Chaussures de randonnée imperméables | Northwind"),
    ("good-de", PLAIN, BOOTS_DE, "Wasserdichte Wanderschuhe für Damen",
     "Leichte, bequeme und wasserdichte Wanderschuhe für Damen mit griffiger Sohle für felsige Wege.", "publish",
     [], [], None),
    ("good-ru", PLAIN, BOOTS_RU, "Водонепроницаемые походные ботинки для женщин",
     "Лёгкие и удобные водонепроницаемые походные ботинки для женщин с цепкой подошвой для горных троп.",
     "publish", [], [], None),
    ("good-ja", PLAIN, BOOTS_JA, "女性用防水トレッキングシューズ｜軽量で快適",
     "軽量で快適な女性用の防水トレッキングシューズ。グリップ力のあるソールで岩場の道でも滑りにくく、足をドライに保ちます。",
     "publish", [], [], None),
    # Placeholders and half-empty titles (T2).
    ("home-brand", BRAND, BOOTS_EN, "Home | Northwind", EN_DESC, "reject", ["title_placeholder"], [], None),
    ("untitled", PLAIN, BOOTS_EN, "Untitled", EN_DESC, "reject", ["title_placeholder"], [], None),
    ("home-no-brand-setting", PLAIN, BOOTS_EN, "Home - Northwind Outdoor", EN_DESC, "reject",
     ["title_placeholder"], [], None),
    ("only-brand", BRAND, BOOTS_EN, "Northwind", EN_DESC, "reject", ["title_placeholder"], [], None),
    ("half-empty", BRAND, BOOTS_EN, "| Northwind", EN_DESC, "reject", ["title_placeholder"], [], None),
    ("bare-domain", PLAIN, BOOTS_EN, "northwind.example", EN_DESC, "reject", ["title_placeholder"], [], None),
    # Language and script (T11/D9).
    ("english-on-french-page", BRAND, BOOTS_FR, "Waterproof Hiking Boots for Women",
     "Light waterproof hiking boots for women with a grippy sole, made for long days on rocky trails.", "reject",
     ["language_mismatch"], [], None),
    ("english-on-undeclared-french-page", PLAIN, BOOTS_FR_UNDECLARED, "Waterproof Hiking Boots for Women",
     "Light waterproof hiking boots for women with a grippy sole, made for long days on rocky trails.", "reject",
     ["language_mismatch"], [], None),
    ("french-on-german-page", PLAIN, BOOTS_DE, "Chaussures de randonnée imperméables", FR_DESC, "reject",
     ["language_mismatch"], [], None),
    ("latin-on-russian-page", PLAIN, BOOTS_RU, "Vodonepronitsaemye botinki dlya pokhodov",
     "Legkie i udobnye botinki dlya zhenshchin s tsepkoy podoshvoy dlya gornykh trop i dolgikh pokhodov.",
     "reject", ["script_mismatch"], [], None),
    ("english-on-hindi-page", PLAIN, BOOTS_HI, "Lightweight Waterproof Hiking Shoes for Women",
     "Light and comfortable waterproof hiking shoes for women, with a grippy sole for rocky paths.",
     "reject", ["script_mismatch"], [], None),
    ("english-on-japanese-page", PLAIN, BOOTS_JA, "Lightweight Waterproof Trekking Shoes",
     "Light and comfortable waterproof trekking shoes for women with a grippy sole for rocky paths.",
     "reject", ["script_mismatch"], [], None),
    ("japanese-with-latin-product-name", PLAIN, BOOTS_JA, "Ridgeline GTX 防水トレッキングシューズ",
     "軽量で快適な女性用の防水トレッキングシューズ。グリップ力のあるソールで岩場の道でも滑りにくい。", "publish", [], [], None),
    ("too-short-to-identify", PLAIN, BOOTS_FR, "Hiking boots",
     "Chaussures de randonnée imperméables pour femme, semelle adhérente et col rembourré.", "flag",
     ["title_too_narrow"], [], None),
    ("mixed-languages-not-rejected", PLAIN, BOOTS_FR, "Trail boots Ridgeline imperméables",
     "Des boots de trail waterproof pour hiking, with a grippy sole et un col rembourré.", "publish", [], [], None),
    # Claims the page does not state (T12, T13, D8).
    ("invented-price", PLAIN, BOOTS_EN, "Ridgeline Hiking Boot for Women from $99", EN_DESC, "reject",
     ["ungrounded_price"], [], None),
    ("stated-price", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women, $189", EN_DESC, "publish",
     [], [], None),
    ("stated-price-other-format", PLAIN, BOOTS_FR, "Chaussures de randonnée imperméables à 149 €", FR_DESC,
     "publish", [], [], None),
    ("invented-percentage", PLAIN, BOOTS_EN, "Ridgeline Hiking Boot: 30% Lighter Than Before", EN_DESC, "reject",
     ["ungrounded_percent"], [], None),
    ("invented-number", PLAIN, BOOTS_EN, "Ridgeline Hiking Boot for Women in 12 Colours", EN_DESC, "reject",
     ["ungrounded_number"], [], None),
    ("obsolete-year", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot Review 2021", EN_DESC, "reject",
     ["ungrounded_year"], [], None),
    ("stated-year-and-superlative", PLAIN, BOOTS_EN, "Ridgeline: The Best Waterproof Boot of 2023", EN_DESC,
     "publish", [], [], None),
    ("invented-free-shipping", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot with Free Shipping", EN_DESC,
     "reject", ["ungrounded_offer"], [], None),
    ("stated-offer", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot: 20% Off This Week", EN_DESC,
     "publish", [], [], None),
    ("invented-discount", PLAIN, BOOTS_FR, "Chaussures de randonnée imperméables : 20 % de réduction", FR_DESC,
     "reject", ["ungrounded_offer"], [], None),
    ("invented-superlative", PLAIN, BOOTS_FR, "Les meilleures chaussures de randonnée imperméables", FR_DESC,
     "reject", ["ungrounded_superlative"], [], None),
    ("invented-number-one", PLAIN, BOOTS_EN, "Ridgeline: The #1 Waterproof Hiking Boot for Women", EN_DESC,
     "reject", ["ungrounded_superlative"], [], None),
    # Keyword stuffing (T9, D5).
    ("stuffed-title", PLAIN, BOOTS_EN, "Boots, Hiking Boots, Waterproof Boots", EN_DESC, "reject",
     ["title_keyword_stuffing"], [], None),
    ("stuffed-description", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women",
     "Hiking boots, waterproof hiking boots, women's hiking boots and light hiking boots for rocky trails.",
     "reject", ["description_keyword_stuffing"], [], None),
    # Model artefacts repaired away (T15).
    ("wrapping-quotes", PLAIN, BOOTS_EN, '"Ridgeline Waterproof Hiking Boot for Women"', EN_DESC, "publish", [],
     ["artefact_removed"], "Ridgeline Waterproof Hiking Boot for Women"),
    ("title-label-markdown-count", PLAIN, BOOTS_EN, '**Title:** "Ridgeline Waterproof Hiking Boot" (33 characters)',
     f"Meta description: {EN_DESC}", "flag", ["title_same_as_h1"], ["artefact_removed"],
     "Ridgeline Waterproof Hiking Boot"),
    ("chatter", PLAIN, BOOTS_EN, "Here is an optimized title: Ridgeline Boot for Women", EN_DESC, "reject",
     ["title_artefact"], [], None),
    # Brand doubled or inconsistent (T14).
    ("brand-doubled", BRAND, BOOTS_EN, "Ridgeline Waterproof Hiking Boot | Northwind – Northwind", EN_DESC,
     "flag", ["title_same_as_h1"], ["segment_deduplicated"], "Ridgeline Waterproof Hiking Boot | Northwind"),
    ("brand-other-format", BRAND, BOOTS_EN, "NORTHWIND: Ridgeline Hiking Boot for Women", EN_DESC, "publish",
     [], ["brand_applied"], "Ridgeline Hiking Boot for Women | Northwind"),
    ("brand-in-the-words", BRAND, BOOTS_EN, "Northwind Ridgeline Hiking Boot for Women | Northwind", EN_DESC,
     "publish", [], ["brand_removed"], "Northwind Ridgeline Hiking Boot for Women"),
    ("brand-three-times", BRAND, BOOTS_EN, "Northwind Ridgeline by Northwind for Northwind Fans", EN_DESC,
     "reject", ["title_brand_repeated"], [], None),
    # Widths (T4, T6, D3, D4).
    ("wide-brand-dropped", BRAND, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women with a Vibram Sole",
     EN_DESC, "flag", ["title_wide"], ["brand_dropped"], "Ridgeline Waterproof Hiking Boot for Women with a Vibram Sole"),
    ("too-wide-cut-at-separator", BRAND, BOOTS_EN, WIDE, EN_DESC, "publish", [], ["brand_dropped",
     "title_cut_at_separator"], "Ridgeline Waterproof Hiking Boot for Women"),
    ("too-wide-cut-at-word", PLAIN, BOOTS_EN, WIDE.replace(":", ","), EN_DESC, "flag", ["title_wide"],
     ["title_cut_at_word"], "Ridgeline Waterproof Hiking Boot for Women, Long Days on Rocky"),
    ("too-wide-no-cut-keeps-the-minimum", PLAIN, BOOTS_JA, "防水トレッキングシューズ軽量で快適な女性用グリップ力のあるソールで岩場の道でも滑りにくい",
     "軽量で快適な女性用の防水トレッキングシューズ。グリップ力のあるソールで岩場の道でも滑りにくく、足をドライに保ちます。",
     "reject", ["title_too_wide"], [], None),
    ("too-narrow", PLAIN, BOOTS_EN, "Ridgeline boot", EN_DESC, "flag", ["title_too_narrow"], [], None),
    ("description-narrow", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women",
     "A waterproof hiking boot for women.", "flag", ["description_too_narrow"], [], None),
    ("description-wide", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women",
     EN_DESC + " It has a padded collar and a grippy Vibram sole for rocky trails, and weighs 1.1 kg per pair.",
     "flag", ["description_wide"], [], None),
    # Same as H1, description same as title (T7, D6).
    ("same-as-h1", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot", EN_DESC, "flag", ["title_same_as_h1"], [],
     None),
    ("description-same-as-title", PLAIN, BOOTS_EN, "Ridgeline Waterproof Hiking Boot for Women on Rocky Trails",
     "Ridgeline waterproof hiking boot for women on rocky trails.", "flag",
     ["description_same_as_title", "description_too_narrow"], [],
     None),
]


@pytest.mark.parametrize(
    ("gate", "page", "title", "description", "action", "checks", "repairs", "final"),
    [c[1:] for c in CORPUS],
    ids=[c[0] for c in CORPUS],
)
def test_corpus(gate, page, title, description, action, checks, repairs, final):
    verdict = gate.judge(title, description, page)
    assert verdict.action == action, verdict.to_dict()
    assert set(checks) <= set(verdict.check_names), verdict.to_dict()
    assert set(checks) == set(verdict.check_names) if action != "reject" else True, verdict.to_dict()
    assert set(repairs) <= {r.name for r in verdict.repairs}, verdict.to_dict()
    if final is not None:
        assert verdict.title == final
    if action == "reject":
        assert verdict.reason
    else:
        assert verdict.reason is None
        assert text_width_px(verdict.title, 20) <= gate.profile.title_max_px
        assert "…" not in verdict.title


def test_the_corpus_fires_every_check():
    fired = set()
    for _, gate, page, title, description, *_ in CORPUS:
        fired |= set(gate.judge(title, description, page).check_names)
    missing = set(CHECKS) - fired - {"title_empty", "description_empty", "description_artefact",
                                     "description_too_wide"}
    assert not missing


def test_a_verdict_is_json_and_comes_back_the_same():
    verdict = BRAND.judge("Ridgeline Boot from $99 | Northwind – Northwind", EN_DESC, BOOTS_EN)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert set(data) >= {"action", "title", "description", "checks", "repairs", "widths", "language", "reason"}
    assert data["checks"][0].keys() == {"name", "severity", "field", "detail"}
    assert Verdict.from_dict(data) == verdict


def test_reasons_tell_the_next_prompt_what_to_do():
    assert BRAND.judge("Waterproof Hiking Boots for Women",
                       "Light waterproof hiking boots for women with a grippy sole, made for long days on trails.",
                       BOOTS_FR).reason == "write in French"
    wide = PLAIN.judge("防水トレッキングシューズ軽量で快適な女性用グリップ力のあるソールで岩場の道でも滑りにくい",
                       "軽量で快適な女性用の防水トレッキングシューズ。グリップ力のあるソールで岩場の道でも滑りにくい。", BOOTS_JA)
    assert wide.reason == "your last title was 880 px wide; stay under 560 px"  # 44 full-width × 20 px
    priced = PLAIN.judge("Ridgeline Boot for Women from $99 in 12 Colours", EN_DESC, BOOTS_EN)
    assert priced.reason == "use only facts the page states; it does not say '$99', '12'"


def test_the_description_is_cut_at_a_sentence_when_over_the_hard_limit():
    gate = QualityGate(QualityProfile(description_max_px=700, description_warn_px=650, description_max_cut=0.4))
    long = EN_DESC + " It weighs 1.1 kg per pair and comes in sizes 38 to 48."
    verdict = gate.judge("Ridgeline Waterproof Hiking Boot for Women", long, BOOTS_EN)
    assert verdict.description == EN_DESC
    assert [r.name for r in verdict.repairs] == ["description_cut_at_sentence"]
    # A cut of more than description_max_cut of the width is a reject, not a repair.
    strict = QualityGate(QualityProfile(description_max_px=700, description_warn_px=650, description_max_cut=0.05))
    assert strict.judge("Ridgeline Waterproof Hiking Boot for Women", long, BOOTS_EN).action == "reject"


def test_the_gate_takes_what_parse_reply_returns():
    reply = json.dumps({"title": "<b>Ridgeline</b> Waterproof Hiking Boot &amp; More", "meta_description": EN_DESC})
    fields = parse_reply(reply, None, BOOTS_EN.url, BOOTS_EN.text)
    verdict = PLAIN.judge(fields.title, fields.meta_description, BOOTS_EN)
    assert verdict.title == "Ridgeline Waterproof Hiking Boot & More"
    assert verdict.action == "publish"


def test_the_identifier_runs_only_when_nothing_cheaper_decides(monkeypatch):
    from seobatch.quality import gate as gate_module

    calls = []

    def counting(text, expected):
        calls.append(text)
        return real(text, expected)

    real = gate_module.best_and_expected
    monkeypatch.setattr(gate_module, "best_and_expected", counting)
    # The page's own words, a script that implies the language, too few letters: no call.
    assert PLAIN.judge("Chaussures de randonnée imperméables", FR_DESC, BOOTS_FR).language_method == "page_words"
    assert PLAIN.judge("女性用防水トレッキングシューズ", "軽量で快適な女性用の防水トレッキングシューズです。", BOOTS_JA).language_method == "script"
    assert PLAIN.judge("Ridgeline", "Ridgeline.", BOOTS_FR).language_method == "too_short"
    # Content stored as HTML: its words are found between the tags.
    assert PLAIN.judge("Chaussures de randonnée imperméables", FR_DESC, BOOTS_FR_HTML).language_method == "page_words"
    assert calls == []
    # Words the page does not use: the identifier decides.
    verdict = PLAIN.judge("Waterproof Hiking Boots for Women", EN_DESC, BOOTS_FR)
    assert len(calls) == 1 and verdict.language_method == "identifier" and verdict.language == "en"


def test_the_pages_attributes_ground_claims_as_the_prompt_shows_them():
    page = PageContext("https://northwind.example/p", title="Ridgeline boot", language="en",
                       text="A waterproof hiking boot for women.", attributes={"price": "189.00", "currency": "USD"})
    assert PLAIN.judge("Ridgeline Waterproof Hiking Boot, $189", EN_DESC, page).action == "publish"
    bare = PageContext(page.url, title=page.title, language="en", text=page.text)
    assert "ungrounded_price" in PLAIN.judge("Ridgeline Waterproof Hiking Boot, $189", EN_DESC, bare).check_names


def test_a_page_without_language_or_text_is_not_judged_for_language():
    page = PageContext("https://northwind.example/x")
    verdict = PLAIN.judge("Ridgeline Waterproof Hiking Boot for Women", EN_DESC, page)
    assert verdict.language_method == "unknown" and "language_mismatch" not in verdict.check_names
