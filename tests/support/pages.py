"""The one page seeder: saved pages with deterministic URLs, titles and text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seobatch.models import Page

_KINDS = ("oak chair", "linen shirt", "café guide", "tea kettle", "road bike")


def _uniform(i: int) -> tuple[str, str, str]:
    return (
        f"https://shop.example.com/p/{i}",
        f"Hand-made oak chair model {i}",
        f"The oak chair model {i} is made by hand in our workshop from local oak. " * 3,
    )


def _varied(i: int) -> tuple[str, str, str]:
    # The fault suite's golden runs compare against this exact text: do not change it.
    kind = _KINDS[i % len(_KINDS)]
    return (
        f"https://shop.example.com/{kind.replace(' ', '-')}/{i}",
        f"The {kind} n°{i} — “handmade” & tested",
        f"Our {kind} number {i} is made in small batches. " * 4 + "Prices include VAT.",
    )


def _save(n: int, start: int, text: Callable[[int], tuple[str, str, str]], **fields: Any) -> list[Page]:
    """The page factory: ``n`` pages numbered from ``start``, text from ``text(i)``."""
    pages = []
    for i in range(start, start + n):
        url, title, content = text(i)
        page = Page(url=url, title=title, content=content, **fields)
        page.save()
        pages.append(page)
    return pages


def make_pages(n: int, start: int = 1, **fields: Any) -> list[Page]:
    """``n`` saved pages with distinct URLs and titles (and enough text to describe)."""
    return _save(n, start, _uniform, **fields)


def seed_pages(n: int, start: int = 1) -> list[int]:
    """``n`` pages with varied but deterministic text (accents, quotes, &); returns their ids."""
    return [page.id for page in _save(n, start, _varied)]
