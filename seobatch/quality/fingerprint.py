"""Fingerprints of a title or description: what the site-level checks group by (§3).

``norm`` folds what two people would call the same text (Unicode compatibility forms,
case, dashes, quotes, punctuation, spacing, the site's brand); ``key`` makes it a signed
64-bit integer (a BIGINT column on both databases). Digits are kept: "Season 1" and
"Season 2" are different titles. ``skeleton`` masks the numbers and the page's own
words (those of its H1 or current title) so that one template filled with many product
names gives one key.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit

from .language import normalise_language

_WORD_RE = re.compile(r"\w+")
_NUMBER_RE = re.compile(r"^\d[\d.,]*$")


def _fold(text: str) -> str:
    """NFKC and casefold (ASCII needs only the lower case: the common path, cheaper)."""
    return text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()


def norm(text: str, brand: str = "") -> str:
    """``text`` folded for comparison, the brand's words removed from either end."""
    words = _WORD_RE.findall(_fold(text))
    if brand:
        brand_words = _WORD_RE.findall(_fold(brand))
        n = len(brand_words)
        if n and len(words) > n:
            if words[-n:] == brand_words:
                words = words[:-n]
            elif words[:n] == brand_words:
                words = words[n:]
    return " ".join(words)


def key_of(normed: str) -> int:
    """A signed 64-bit key of an already normalised text."""
    digest = hashlib.blake2b(normed.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def key(text: str, brand: str = "") -> int:
    """``key_of(norm(text, brand))``."""
    return key_of(norm(text, brand))


def skeleton(title: str, variable: str, brand: str = "") -> str:
    """The title's template: words of the page's ``variable`` (its H1 or current title) →
    ``@``, other numbers → ``#``; runs of ``@`` collapse, so product names of any length
    (with numbers in them) match."""
    own = set(norm(variable).split())
    out: list[str] = []
    for word in norm(title, brand).split():
        token = "@" if word in own else "#" if _NUMBER_RE.match(word) else word
        if token == "@" and out and out[-1] == "@":
            continue
        out.append(token)
    return " ".join(out)


def fixed_share(skel: str) -> float:
    """The share of a skeleton's tokens that are template text (not ``@`` or ``#``)."""
    tokens = skel.split()
    return sum(t not in ("@", "#") for t in tokens) / len(tokens) if tokens else 0.0


#: A skeleton is a template's only when its fixed words make up this share of it (§3).
TEMPLATE_FIXED_SHARE = 0.6


def skeleton_key(title: str, variable: str, brand: str = "") -> int | None:
    """The key of the title's skeleton, or None when the page's own words dominate it
    (then it is no template: "Boots" alone is no pattern)."""
    skel = skeleton(title, variable, brand)
    return key_of(skel) if fixed_share(skel) >= TEMPLATE_FIXED_SHARE else None


def site_of(url: str, language: str | None) -> str:
    """The group a page's duplicates are looked for in: its host (``www.`` dropped) and
    language as a code (``pt-BR`` → ``pt``), e.g. ``shop.example/de``."""
    try:
        host = (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        host = ""
    return f"{host}/{normalise_language(language) or ''}"


__all__ = ["TEMPLATE_FIXED_SHARE", "fixed_share", "key", "key_of", "norm", "site_of", "skeleton", "skeleton_key"]
