"""The gate's language scores are py3langid's own, however they are computed (identifier.py)."""

from __future__ import annotations

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from seobatch.quality import language
from seobatch.quality.identifier import FastScorer

REPLIES = [
    "Waterproof Hiking Boots for Women | Northwind",
    "Des chaussures de randonnée légères et imperméables, livrées en deux jours.",
    "Wasserdichte Wanderschuhe für Damen: leicht, bequem und griffig auf felsigen Wegen.",
    "Botas de montaña impermeables para mujer, ligeras y cómodas.",
    "Водонепроницаемые ботинки для походов. Лёгкие и удобные.",
    "防水トレッキングシューズ 軽量で快適な女性用の防水トレッキングシューズです。",
    "Ελαφριά αδιάβροχα παπούτσια πεζοπορίας",
    "SHOUTING TITLE IN CAPITALS",
    "Ridgeline  boot   with  double   spaces ",
    " leading space and a trailing one ",
    "x" * 300 + " " + "y" * 50,
    "no. 5 | 49,99 € – 20 % off!",
    "Vandresko til kvinder. Lette, vandtætte vandresko med god sål.",
    "",
    " ",
    "\u200b",
]


def _reference() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def test_the_scores_are_py3langids_own_bit_for_bit():
    reference = _reference()
    scorer = FastScorer(_reference())
    assert FastScorer.usable(reference)
    for _ in range(2):  # the second round goes through the memo and the converted rows
        for text in REPLIES:
            assert np.array_equal(scorer.decide(text), reference._decide(text)), text


def test_a_bounded_memo_starts_again_and_still_gives_the_same_scores(monkeypatch):
    from seobatch.quality import identifier

    monkeypatch.setattr(identifier, "_MEMO_ENTRIES", 4)
    reference = _reference()
    scorer = FastScorer(_reference())
    for text in REPLIES * 2:
        assert np.array_equal(scorer.decide(text), reference._decide(text)), text
        assert len(scorer._memo) <= 4


def test_the_gate_ranks_with_the_same_numbers_as_py3langid():
    reference = _reference()
    for text in REPLIES[:7]:
        ranked = dict(language.identify(text))
        for code, p in reference.rank(text):
            if code in ("nb", "nn", "no", "iw", "in", "ji", "tl"):
                continue  # aliases are merged under one code (language._ALIASES)
            assert abs(ranked[code] - p) < 1e-6, (text, code)


def test_an_identifier_without_those_internals_is_used_through_its_own_decide():
    class Other:
        _norm_probs = True

    assert not FastScorer.usable(Other())


def test_replies_scored_together_get_the_same_scores_as_one_at_a_time():
    reference = _reference()
    scorer = FastScorer(_reference())
    texts = REPLIES * 20  # more than one block
    many = scorer.decide_many(texts)
    for row, text in zip(many, texts, strict=True):
        assert np.array_equal(row, reference._decide(text)), text
    assert scorer.decide_many([]).shape == (0, len(reference.nb_classes))
    asks = [(text, "fr") for text in REPLIES]
    assert language.best_and_expected_many(asks) == [language.best_and_expected(t, x) for t, x in asks]
