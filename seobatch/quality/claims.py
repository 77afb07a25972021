"""Claims a reply makes that the page must state: numbers, prices, percentages, years,
offers and superlatives (seo-quality.md T12, T13, D8).

Each claim is looked up in the page's own words (url, title, H1 and text). Numbers are
matched whatever their formatting (``1,299`` = ``1.299`` = ``1 299`` = ``1299``;
``49.99`` = ``49,99``; ``€49`` is on a page that says ``49,00 €``) and never inside a longer
number; offers and superlatives by their phrase, case-insensitively. A page that states
a claim anywhere grounds it: the check is for invented facts, not for their placement.

The phrase lists cover English and the largest European languages; a claim in another
language is not caught (a missed claim publishes, it never rejects a good reply).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

#: A number as written: 1,299.00 / 1.299,00 / 1 299 / 49.99 / 2024 / 15. It starts with a
#: digit and nothing else, so the regex engine skips ahead to the next digit (a lookbehind
#: in front made it try every position: a third of the check).
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*(?:[\u00a0\u202f ]\d{3}(?!\d))*")
_CURRENCY = (
    r"[$€£¥₹₩₽₺₪฿₫₴₦¢]|US\$|A\$|C\$|R\$|CHF|USD|EUR|GBP|JPY|CNY|INR|AUD|CAD|SEK|NOK|DKK|PLN|CZK|HUF|"
    r"kr\.?|zł|Kč|Ft|lei|руб\.?|₽|dollars?|euros?|pounds?"
)
_CURRENCY_BEFORE_RE = re.compile(rf"(?:{_CURRENCY})\s?$", re.IGNORECASE)
_CURRENCY_AFTER_RE = re.compile(rf"(?:[.,]-)?\s?(?:{_CURRENCY})(?![a-z])", re.IGNORECASE)
_PERCENT_AFTER_RE = re.compile(
    r"\s?(?:%|％|percent\b|per cent\b|pour cent\b|prozent\b|por ciento\b|per cento\b|procent\b)", re.IGNORECASE
)
_YEAR_RE = re.compile(r"(?:19|20)\d\d")
#: "20% off" and its kin: the percentage and a discount word must both be on the page.
_OFF_AFTER_RE = re.compile(
    r"\s?(?:%|％)\s*(?:off\b|discount\b|de (?:réduction|remise|descuento)\b|rabatt\b|sconto\b|korting\b|taniej\b)",
    re.IGNORECASE,
)
_DISCOUNT_WORDS = ("off", "discount", "sale", "save", "réduction", "remise", "soldes", "rabatt", "descuento",
                   "rebajas", "sconto", "saldi", "korting", "promo", "скидк")

#: Offers (``offer`` group) and superlatives (``superlative`` group), whole phrases.
_CLAIM_RE = re.compile(
    r"(?<!\w)(?:(?P<offer>free (?:shipping|delivery|returns?|gift|trial|postage)|"
    r"(?:on )?sale|clearance|discount(?:s|ed)?|coupon|promo(?:tion)? code|voucher|buy one,? get one|bogo|"
    r"limited[- ]time(?: offer)?|today only|price match|money[- ]back|"
    r"livraison (?:gratuite|offerte)|frais de port offerts|soldes|kostenlose[rn]? (?:versand|lieferung)|"
    r"versandkostenfrei|gratis ?versand|env[ií]o gratis|env[ií]o gratuito|rebajas|spedizione gratuita|saldi|"
    r"gratis verzending|gratis bezorging|darmowa dostawa|бесплатная доставка|скидк[аиу])"
    r"|(?P<superlative>best(?:[- ]sell(?:ing|er)s?| rated| in class)?|#\s?1|no\. ?1|number one|top[- ]rated|"
    r"cheapest|lowest(?: price)?|greatest|ultimate|leading|world'?s (?:best|first|largest|leading)|"
    r"award[- ]winning|unbeatable|unrival+ed|guaranteed|official|most popular|finest|"
    r"meilleure?s?|le moins cher|beste[nrs]?|günstigste[nrs]?|mejor(?:es)?|el más barato|migliore?|"
    r"il più economico|goedkoopste|najlepsz\w*|лучш\w*|самы\w* дешёв\w*))(?!\w)",
    re.IGNORECASE,
)
_DIGIT_RE = re.compile(r"\d")
#: A word of every phrase above (its first, or a rarer one: "sale" for "on sale"): a reply
#: with none of them (and no digit) makes no offer or superlative claim and skips the long
#: pattern, a tenth of the gate's budget.
TRIGGER_WORDS = frozenset("""
free sale clearance discount discounts discounted coupon promo promotion voucher buy bogo limited
today price money livraison frais soldes kostenlose kostenloser kostenlosen versandkostenfrei gratis
envío envio rebajas spedizione saldi darmowa бесплатная скидка скидки скидку best bestseller bestsellers
number rated cheapest lowest greatest ultimate leading world worlds award unbeatable unrivalled unrivaled
guaranteed official popular finest meilleur meilleure meilleurs meilleures moins beste besten bester bestes
günstigste günstigsten günstigster günstigstes mejor mejores barato miglior migliore economico goedkoopste
""".split())
#: Stems of the inflected (Polish, Russian) phrases, looked for in non-ASCII replies.
_STEM_RE = re.compile(r"najlepsz|лучш|самы|скидк", re.IGNORECASE)
#: The two phrases without a word of their own ("#1", "No. 1"), without ``_CLAIM_RE``'s
#: boundary in front: a reply this misses makes neither claim. ("o." alone sent every
#: model number, "no. 5", to the long pattern.)
_NUMBER_ONE_RE = re.compile(r"(?:#\s?|no\. ?)1(?!\w)", re.IGNORECASE)


class Claim(NamedTuple):
    """A claim the page does not state: its kind (a check name) and the text quoted."""

    check: str
    text: str


def _number_variants(raw: str) -> Iterator[str]:
    """How the page may write the number ``raw``: the raw form first, the others worked
    out only if it is not found."""
    yield raw
    digits = re.sub(r"[\u00a0\u202f ]", "", raw)
    variants = [digits]
    if "," in digits or "." in digits:
        variants.append(digits.translate(_SWAP_SEPARATORS))
        parts = re.split(r"[.,]", digits)
        if len(parts[-1]) == 3 and all(len(p) == 3 for p in parts[1:]):  # thousands grouping
            variants += _grouped("".join(parts))
        if len(parts) == 2 and set(parts[1]) == {"0"}:  # 49.00 is 49
            variants.append(parts[0])
    elif len(digits) > 3:
        variants += _grouped(digits)  # 1299 may be written 1,299 / 1.299 / 1 299
    yield from (v for v in dict.fromkeys(variants) if v and v != raw)


_SWAP_SEPARATORS = str.maketrans(",.", ".,")


def _grouped(whole: str) -> list[str]:
    grouped = f"{int(whole):,}"
    return [whole, grouped, grouped.replace(",", "."), grouped.replace(",", " "), grouped.replace(",", "\u00a0"),
            grouped.replace(",", "\u202f")]


def _states_number(source: str, raw: str) -> bool:
    """True when ``source`` contains the number ``raw`` (any formatting, not inside a longer
    number; ``49`` is in ``49,00`` but not in ``149`` or ``49,50``)."""
    for variant in _number_variants(raw):
        start = source.find(variant)
        while start >= 0:
            end = start + len(variant)
            before = source[start - 1] if start else ""
            ok = not before.isdigit() and not (before in ".," and start > 1 and source[start - 2].isdigit())
            if ok and end < len(source):
                after = source[end]
                if after.isdigit():
                    ok = False
                elif after in ".," and end + 1 < len(source) and source[end + 1].isdigit():
                    decimals = re.match(r"\d+", source[end + 1 :])
                    ok = decimals is not None and set(decimals.group(0)) == {"0"}
            if ok:
                return True
            start = source.find(variant, start + 1)
    return False


def _states_percent(source: str, raw: str) -> bool:
    for variant in _number_variants(raw):
        for m in re.finditer(re.escape(variant), source):
            if _PERCENT_AFTER_RE.match(source, m.end()) and not source[m.start() - 1 : m.start()].isdigit():
                return True
    return False


def find_ungrounded(
    text: str, words: Iterable[str], source: Callable[[], str], source_lower: Callable[[], str]
) -> list[Claim]:
    """The claims in ``text`` that the page does not state. ``words``: the lower-case
    words of ``text`` (the gate has them already).

    ``source`` returns the page's words and ``source_lower`` the same in lower case with
    whitespace collapsed; they are called only when ``text`` makes a claim, so a reply
    without one costs two regex scans.
    """
    has_digit = _DIGIT_RE.search(text) is not None
    phrases = (not TRIGGER_WORDS.isdisjoint(words) or (has_digit and _NUMBER_ONE_RE.search(text) is not None)
               or (not text.isascii() and _STEM_RE.search(text) is not None))
    if not has_digit and not phrases:
        return []
    found: list[Claim] = []
    for m in _NUMBER_RE.finditer(text) if has_digit else ():
        raw = m.group(0).rstrip(" \u00a0\u202f")
        after = text[m.end() : m.end() + 24]
        lead = after.lstrip()[:1]
        if lead in ("%", "％") or (lead in ("p", "P") and _PERCENT_AFTER_RE.match(after)):
            if _OFF_AFTER_RE.match(after):
                lower = source_lower()
                if not (_states_percent(source(), raw) and any(w in lower for w in _DISCOUNT_WORDS)):
                    found.append(Claim("ungrounded_offer", f"{raw}% off"))
            elif not _states_percent(source(), raw):
                found.append(Claim("ungrounded_percent", f"{raw}%"))
            continue
        if _states_number(source(), raw):
            continue  # stated on the page, whether a price, a year or a count
        before = text[max(0, m.start() - 4) : m.start()]
        if _CURRENCY_BEFORE_RE.search(before):
            found.append(Claim("ungrounded_price", before.rstrip()[-1:] + raw))
        elif _CURRENCY_AFTER_RE.match(after):
            found.append(Claim("ungrounded_price", raw))
        elif _YEAR_RE.fullmatch(raw):
            found.append(Claim("ungrounded_year", raw))
        else:
            found.append(Claim("ungrounded_number", raw))
    for m in _CLAIM_RE.finditer(text) if phrases else ():
        phrase = " ".join(m.group(0).lower().split())
        if phrase not in source_lower() and not ("#" in phrase and phrase.replace(" ", "") in source_lower()):
            found.append(Claim("ungrounded_offer" if m.lastgroup == "offer" else "ungrounded_superlative", m.group(0)))
    return found


__all__ = ["TRIGGER_WORDS", "Claim", "find_ungrounded"]
