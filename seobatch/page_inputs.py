"""What of a page's attributes a prompt can show the model: its declared language and
its ``key: value`` lines. The prompt renders them (``prompts``) and the page's content
hash covers them (``Page.hash_content``), so one definition serves both: a change to
anything the model sees regenerates the page's SEO.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .text import collapse_whitespace, one_line, strip_invisible

#: Attribute names that declare the page's language.
LANGUAGE_KEYS = ("language", "lang", "locale", "hreflang", "content_language")

_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}$|^[^\W\d_][^\W\d]{1,29}$")
_ATTR_KEY_RE = re.compile(r"^[\w .-]{1,40}$")


def language_of(attributes: Mapping[str, Any] | None) -> str | None:
    """The page's declared language (``de``, ``pt-BR``, ``Deutsch``) or None."""
    for key, value in (attributes or {}).items():
        if str(key).lower() in LANGUAGE_KEYS and isinstance(value, str):
            value = collapse_whitespace(strip_invisible(value))
            if _LANGUAGE_RE.match(value):
                return value
    return None


def attribute_lines(attributes: Mapping[str, Any] | None) -> list[str]:
    """The ``key: value`` lines ``$attributes`` shows (scalars with plain keys, the first 20)."""
    lines = []
    for key, value in list((attributes or {}).items())[:20]:
        if not isinstance(value, (str, int, float, bool)) or not _ATTR_KEY_RE.match(str(key)):
            continue
        lines.append(f"{key}: {one_line(str(value), 200)}")
    return lines


def prompt_inputs(attributes: Mapping[str, Any] | None) -> str:
    """What of the page's attributes a prompt can put in front of the model — ``$language``
    and ``$attributes`` — as one text for the page's content hash, so changing any of it
    regenerates the page's SEO. Empty when the page has none of it (the hash is then the
    title-and-content hash of earlier releases)."""
    lines = attribute_lines(attributes)
    language = language_of(attributes)
    if not lines and language is None:
        return ""
    return "\n".join(lines) + "\x00" + (language or "")
