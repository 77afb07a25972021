"""The page a reply is judged against, and what is worked out from it once (lower case,
head words, script, language) when first needed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..text import TAG_RE
from .language import (
    MIN_LETTERS,
    PAGE_SAMPLE_CHARS,
    identify,
    main_script,
    normalise_language,
    script_letters,
    scripts_of,
)

#: Page text looked at for claims (the prompt sends far less; this bounds the cost).
MAX_PAGE_CHARS = 200_000
#: Page text whose words tell that a reply is in the page's language.
_HEAD_CHARS = 3000
#: Reply words compared with the page's (the longest first), and the share that must match.
_SHARED_WORDS = 10
_SHARED_SHARE = 0.6
_MIN_SHARED_WORD = 4

class PageContext:
    """The page a reply is judged against. ``text`` is the page's readable text (HTML
    works too: claims are then looked for in the markup as well, which only loosens
    them). Derived forms (lower case, language) are worked out once, when first needed."""

    __slots__ = (
        "_head",
        "_language",
        "_lower",
        "_scripts",
        "_source",
        "attributes",
        "declared_language",
        "h1",
        "text",
        "title",
        "url",
    )

    def __init__(
        self, url: str = "", *, title: str | None = None, h1: str | None = None,
        language: str | None = None, text: str | None = None, attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url or ""
        self.title = title or ""
        self.h1 = h1 or ""
        #: The ``language`` attribute as a code (``pt-BR`` → ``pt``), None when absent or unknown.
        self.declared_language = normalise_language(language)
        self.text = (text or "")[:MAX_PAGE_CHARS]
        #: The page's other import columns (price, currency…): the prompt shows them, so a
        #: reply may state them.
        self.attributes = attributes or {}
        self._source: str | None = None
        self._lower: str | None = None
        self._head: str | None = None
        self._scripts: frozenset[str] | None | bool = False
        self._language: str | None | bool = False

    def source(self) -> str:
        """Everything the reply may take facts from: url, title, H1, attributes and text."""
        if self._source is None:
            facts = "\n".join(f"{k}: {v}" for k, v in self.attributes.items() if isinstance(v, (str, int, float)))
            self._source = f"{self.url}\n{self.title}\n{self.h1}\n{facts}\n{self.text}"
        return self._source

    def source_lower(self) -> str:
        if self._lower is None:
            self._lower = self.source().lower()
        return self._lower

    def says(self, phrase: str) -> bool:
        """True when the page contains ``phrase`` (any case; spacing may differ)."""
        phrase = phrase.lower()
        lower = self.source_lower()
        if phrase in lower:
            return True
        words = phrase.split()
        return len(words) > 1 and re.search(r"\s+".join(map(re.escape, words)), lower) is not None

    def head(self) -> str:
        """The start of the page's words, lower case (title, H1, text; not the URL). Tags of
        HTML content are dropped first (one regex pass), so that a page stored as HTML
        still answers ``shares_words`` rather than sending its replies to the identifier."""
        if self._head is None:
            text = self.text[: 2 * _HEAD_CHARS]
            if "<" in text:
                text = TAG_RE.sub(" ", text)
            self._head = f"{self.title}\n{self.h1}\n{text[:_HEAD_CHARS]}".lower()
        return self._head

    def scripts(self) -> frozenset[str] | None:
        """The writing systems a reply must use: the declared language's, else the main
        script of the page's text; None when neither is known."""
        if self._scripts is False:
            if self.declared_language:
                self._scripts = scripts_of(self.declared_language)
            else:
                script = main_script(self.head()[:PAGE_SAMPLE_CHARS])
                self._scripts = frozenset({script}) if script else None
        return self._scripts  # type: ignore[return-value]

    def language(self) -> str | None:
        """The page's language: its attribute, else its text identified (needs enough text)."""
        if self._language is False:
            self._language = self.declared_language
            if self._language is None:
                sample = f"{self.title}\n{self.h1}\n{self.text[:PAGE_SAMPLE_CHARS]}"
                if sum(script_letters(sample).values()) >= 3 * MIN_LETTERS:
                    best, p = identify(sample)[0]
                    self._language = best if p >= 0.5 else None
        return self._language  # type: ignore[return-value]

    def shares_words(self, words: list[str]) -> bool:
        """True when most of the reply's longer words are words of the page's text."""
        head = self.head()
        seen: set[str] = set()
        found = missed = 0
        # Up to _SHARED_WORDS distinct words; stop as soon as the share is reached or lost.
        need = _SHARED_SHARE * _SHARED_WORDS
        for w in words:
            if len(w) < _MIN_SHARED_WORD or w in seen:
                continue
            seen.add(w)
            if w in head:
                found += 1
                if found >= need:
                    return True
            else:
                missed += 1
                if missed > _SHARED_WORDS - need:
                    return False
        return len(seen) >= 3 and found >= _SHARED_SHARE * len(seen)


__all__ = ["MAX_PAGE_CHARS", "PageContext"]
