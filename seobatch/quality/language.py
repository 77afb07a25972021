"""Which language and writing system a reply is in, against the page's.

Two tests, cheapest first (the gate runs on every reply of a million-page night):

1. **Script**, exact and cheap: the share of the reply's letters in the page's writing
   system(s). An English or transliterated title on a Hindi page has no Devanagari at all.
2. **Language**, statistical, with ``py3langid`` (a naive Bayes identifier over byte
   n-grams whose model ships inside its wheel; no download at run time). It costs about
   20 µs a reply (``identifier.py``: its own numbers, computed faster), so it runs only
   when nothing cheaper decides:

   - the script already implies the language (Greek, Hebrew, Thai, Hangul, kana…);
   - the reply is too short to identify (fewer than ``MIN_LETTERS`` letters): never a
     mismatch for that alone (an auto-detector once took English for German for "die");
   - most of the reply's longer words occur in the page's own text: a reply written
     with the page's vocabulary is in the page's language.

   A mismatch needs the identifier to be at least ``confidence`` sure of another
   language *and* to give the page's language almost no chance (``EXPECTED_FLOOR``), so
   close pairs (Spanish/Galician, Norwegian/Danish, Malay/Indonesian) and mixed replies
   are never rejected.

The expected language is the page's ``language`` attribute when it names one, else the
identifier's reading of the page text (worked out once per page, only when needed).
"""

from __future__ import annotations

import re
import threading
from typing import Any

#: Replies with fewer letters are not identified (too short to be sure).
MIN_LETTERS = 20
#: A mismatch needs the page's language to get less than this probability.
EXPECTED_FLOOR = 0.02
#: Page text looked at to identify its language or find its script.
PAGE_SAMPLE_CHARS = 2000
#: Share of the reply's letters that must be in the page's script(s).
MIN_SCRIPT_SHARE = 0.2
#: Letters needed before the script test is trusted.
MIN_SCRIPT_LETTERS = 6

# Runs of letters by writing system. Full-width scripts count twice: a CJK character
# carries about what a Latin word does, and a Japanese title with a Latin product name
# ("Apple iPhone 15 ケース") is still Japanese.
_SCRIPT_RE = re.compile(
    "(?P<latin>[A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uff21-\uff3a\uff41-\uff5a]+)"
    "|(?P<cyrillic>[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]+)"
    "|(?P<greek>[\u0370-\u03ff\u1f00-\u1fff]+)"
    "|(?P<armenian>[\u0530-\u058f]+)"
    "|(?P<hebrew>[\u0590-\u05ff\ufb1d-\ufb4f]+)"
    "|(?P<arabic>[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]+)"
    "|(?P<devanagari>[\u0900-\u097f]+)"
    "|(?P<bengali>[\u0980-\u09ff]+)"
    "|(?P<gurmukhi>[\u0a00-\u0a7f]+)"
    "|(?P<gujarati>[\u0a80-\u0aff]+)"
    "|(?P<tamil>[\u0b80-\u0bff]+)"
    "|(?P<telugu>[\u0c00-\u0c7f]+)"
    "|(?P<kannada>[\u0c80-\u0cff]+)"
    "|(?P<malayalam>[\u0d00-\u0d7f]+)"
    "|(?P<sinhala>[\u0d80-\u0dff]+)"
    "|(?P<thai>[\u0e00-\u0e7f]+)"
    "|(?P<lao>[\u0e80-\u0eff]+)"
    "|(?P<myanmar>[\u1000-\u109f]+)"
    "|(?P<georgian>[\u10a0-\u10ff\u2d00-\u2d2f]+)"
    "|(?P<ethiopic>[\u1200-\u139f]+)"
    "|(?P<khmer>[\u1780-\u17ff]+)"
    "|(?P<hangul>[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]+)"
    "|(?P<kana>[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+)"
    "|(?P<han>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+)"
)
#: Dashes, quotes, ellipsis, currency signs: not letters, and common in Latin text.
_PUNCTUATION_RE = re.compile("[\u2000-\u206f\u20a0-\u20cf\u00a0-\u00bf\u2100-\u214f]+")
_WIDE_SCRIPTS = frozenset({"hangul", "kana", "han"})

#: The writing system(s) a language is written in, where it is not Latin alone.
SCRIPTS_OF: dict[str, frozenset[str]] = {
    **{code: frozenset({"cyrillic"})
       for code in ("ru", "uk", "be", "bg", "mk", "kk", "ky", "mn", "tg", "tt", "ba", "cv")},
    "sr": frozenset({"cyrillic", "latin"}),  # Serbian is written in both
    "el": frozenset({"greek"}),
    "hy": frozenset({"armenian"}),
    **{code: frozenset({"hebrew"}) for code in ("he", "yi")},
    **{code: frozenset({"arabic"}) for code in ("ar", "fa", "ur", "ps", "ug", "ckb", "sd")},
    **{code: frozenset({"devanagari"}) for code in ("hi", "mr", "ne", "sa")},
    **{code: frozenset({"bengali"}) for code in ("bn", "as")},
    "pa": frozenset({"gurmukhi"}),
    "gu": frozenset({"gujarati"}),
    "ta": frozenset({"tamil"}),
    "te": frozenset({"telugu"}),
    "kn": frozenset({"kannada"}),
    "ml": frozenset({"malayalam"}),
    "si": frozenset({"sinhala"}),
    "th": frozenset({"thai"}),
    "lo": frozenset({"lao"}),
    "my": frozenset({"myanmar"}),
    "ka": frozenset({"georgian"}),
    **{code: frozenset({"ethiopic"}) for code in ("am", "ti")},
    "km": frozenset({"khmer"}),
    "ko": frozenset({"hangul", "han"}),
    "ja": frozenset({"kana", "han"}),
    "zh": frozenset({"han"}),
}
LATIN = frozenset({"latin"})
#: Scripts that only one (common) language is written in: a match decides the language.
_SCRIPT_LANGUAGE = {
    "greek": "el", "armenian": "hy", "georgian": "ka", "thai": "th", "lao": "lo", "khmer": "km",
    "hangul": "ko", "kana": "ja", "gurmukhi": "pa", "gujarati": "gu", "tamil": "ta", "telugu": "te",
    "kannada": "kn", "malayalam": "ml", "sinhala": "si", "myanmar": "my",
}
#: Codes the identifier and page attributes spell differently for one language.
_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id", "ji": "yi", "tl": "fil", "zh-hant": "zh", "zh-hans": "zh"}

#: English names, for reasons ("write in French") and for attribute values like "German".
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "cy": "Welsh",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fil": "Filipino", "fr": "French", "ga": "Irish",
    "gl": "Galician", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian",
    "ms": "Malay", "mt": "Maltese", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian",
    "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}
#: Attribute values that are a language's own name, not a code ("Deutsch", "français").
_ENDONYMS = {
    "deutsch": "de", "français": "fr", "francais": "fr", "español": "es", "espanol": "es",
    "italiano": "it", "português": "pt", "portugues": "pt", "nederlands": "nl", "polski": "pl",
    "svenska": "sv", "dansk": "da", "norsk": "no", "suomi": "fi", "čeština": "cs", "cestina": "cs",
    "magyar": "hu", "türkçe": "tr", "turkce": "tr", "русский": "ru", "українська": "uk",
    "ελληνικά": "el", "日本語": "ja", "中文": "zh", "한국어": "ko", "română": "ro", "romana": "ro",
}
_BY_NAME = {name.lower(): code for code, name in LANGUAGE_NAMES.items()} | _ENDONYMS


def normalise_language(value: str | None) -> str | None:
    """The language code a page attribute names (``pt-BR`` → ``pt``, ``German`` → ``de``),
    or None when it names none we know."""
    if not value:
        return None
    text = value.strip().lower().replace("_", "-")
    if text in _ALIASES:
        return _ALIASES[text]
    if text in _BY_NAME:
        return _BY_NAME[text]
    primary = text.split("-", 1)[0]
    if primary.isalpha() and primary.isascii() and 2 <= len(primary) <= 3:
        return _ALIASES.get(primary, primary)
    return None


def language_name(code: str) -> str:
    """``fr`` → ``French``; a code without a known name is returned as it is."""
    return LANGUAGE_NAMES.get(code, code)


def scripts_of(code: str) -> frozenset[str]:
    """The writing systems ``code`` is written in (Latin for any language not listed)."""
    return SCRIPTS_OF.get(code, LATIN)


def script_letters(text: str) -> dict[str, int]:
    """Letters of ``text`` per writing system (full-width scripts weigh 2 each)."""
    if text.isascii():
        if text.lower() == text.upper():
            return {}  # no letter at all
        # One script: only the size matters, and characters other than spaces stand in
        # for letters (exact counting cost more than the rest of the script test).
        return {"latin": len(text) - text.count(" ")}
    bare = _PUNCTUATION_RE.sub("", text)
    if max(bare, default="") < "\u0250":
        # Latin alone (Latin-1, Latin Extended-A/B): as for ASCII (a regex match per word
        # was a fifth of the gate's budget).
        letters = len(bare) - bare.count(" ")
        return {"latin": letters} if letters > 0 else {}
    counts: dict[str, int] = {}
    for m in _SCRIPT_RE.finditer(text):
        script = m.lastgroup or ""
        weight = 2 if script in _WIDE_SCRIPTS else 1
        counts[script] = counts.get(script, 0) + weight * (m.end() - m.start())
    return counts


def main_script(text: str) -> str | None:
    """The writing system most of ``text``'s letters are in, or None without letters."""
    counts = script_letters(text)
    return max(counts, key=counts.__getitem__) if counts else None


def script_share(counts: dict[str, int], scripts: frozenset[str]) -> float:
    """The share of the letters in ``counts`` that are written in one of ``scripts``."""
    total = sum(counts.values())
    return sum(n for s, n in counts.items() if s in scripts) / total if total else 1.0


def language_of_script(scripts: frozenset[str], counts: dict[str, int]) -> str | None:
    """The language a reply's script alone proves, when the page's script is one that a
    single common language is written in (kana: Japanese; Hangul: Korean; Greek…)."""
    for script, code in _SCRIPT_LANGUAGE.items():
        if script in scripts and counts.get(script):
            return code
    return None


_identifier: Any = None
_scorer: Any = None
_identifier_lock = threading.Lock()


def _get_identifier() -> Any:
    global _identifier, _scorer
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                # Imported on first use: numpy and the 0.6 s model load are paid only by
                # processes that identify a language.
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                from .identifier import FastScorer

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                # py3langid's own numbers, faster (identifier.py); its _decide without the internals.
                _scorer = FastScorer(ident) if FastScorer.usable(ident) else None
                _identifier = ident
    return _identifier


def _scores(text: str) -> Any:
    """The identifier's probability per class (its ``nb_classes``) for ``text``."""
    ident = _get_identifier()
    return _scorer.decide(text) if _scorer is not None else ident._decide(text)


def identify(text: str) -> list[tuple[str, float]]:
    """Languages of ``text`` with their probability, best first (codes as ``normalise_language``)."""
    ident = _get_identifier()
    ranked: dict[str, float] = {}
    if _scorer is None and not hasattr(ident, "_decide"):  # another py3langid layout: its public ranking
        ranked.update(ident.rank(text))
    else:  # as py3langid's rank: the first column of a label holds its (folded) score
        for code, p in zip(ident.nb_classes, _scores(text).tolist(), strict=True):
            ranked.setdefault(code, p)
    merged: dict[str, float] = {}
    for code, p in ranked.items():
        code = _ALIASES.get(code, code)
        merged[code] = merged.get(code, 0.0) + p
    return sorted(merged.items(), key=lambda kv: kv[1], reverse=True)


def best_and_expected(text: str, expected: str) -> tuple[str, float, float]:
    """(best language, its probability, the probability of ``expected``) for ``text``:
    what the mismatch test needs, without ranking all 140 languages."""
    ident = _get_identifier()
    if _scorer is None and not hasattr(ident, "_decide"):  # another py3langid layout: the public ranking
        ranked = identify(text)
        return ranked[0][0], ranked[0][1], dict(ranked).get(expected, 0.0)
    scores = _scores(text)
    classes = ident.nb_classes
    best = int(scores.argmax())
    p_expected = sum(float(scores[i]) for i in _columns(ident, expected))
    code = _ALIASES.get(classes[best], classes[best])
    p_best = sum(float(scores[i]) for i in _columns(ident, code))
    return code, p_best, p_expected


def best_and_expected_many(asks: list[tuple[str, str]]) -> list[tuple[str, float, float]]:
    """``best_and_expected(text, expected)`` for each (text, expected), scored together."""
    if not asks:
        return []
    ident = _get_identifier()
    if _scorer is None:
        return [best_and_expected(text, expected) for text, expected in asks]
    scores = _scorer.decide_many([text for text, _ in asks])
    classes = ident.nb_classes
    out = []
    for row, best, (_, expected) in zip(scores, scores.argmax(axis=1).tolist(), asks, strict=True):
        code = _ALIASES.get(classes[best], classes[best])
        out.append((code, sum(float(row[i]) for i in _columns(ident, code)),
                    sum(float(row[i]) for i in _columns(ident, expected))))
    return out


_COLUMNS: dict[str, tuple[int, ...]] = {}


def _columns(ident: Any, code: str) -> tuple[int, ...]:
    """The identifier's score columns for ``code`` and its aliases (``no``: nb, nn, no)."""
    cols = _COLUMNS.get(code)
    if cols is None:
        cols = tuple(i for i, c in enumerate(ident.nb_classes) if _ALIASES.get(c, c) == code)
        _COLUMNS[code] = cols
    return cols


def warm_up() -> None:
    """Load the identifier's model now (a worker can pay the 0.6 s at start, not mid-batch)."""
    _get_identifier()


__all__ = [
    "EXPECTED_FLOOR",
    "LANGUAGE_NAMES",
    "MIN_LETTERS",
    "SCRIPTS_OF",
    "best_and_expected",
    "best_and_expected_many",
    "identify",
    "language_name",
    "language_of_script",
    "main_script",
    "normalise_language",
    "script_letters",
    "script_share",
    "scripts_of",
    "warm_up",
]
