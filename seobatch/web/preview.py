"""The search-result preview: where Google would cut a title or description, computed here.

The cut does not depend on the browser's fonts: text is measured with a ``width_fn``
(``width_fn(text, size_px) -> px``), wrapped into the lines a result shows, and the last
line cut at a word with "…" when the text does not fit. The width function is the
quality gate's pixel-width table (``seobatch.quality.widths.text_width_px``, Liberation
Sans metrics), the same numbers the gate judges a reply by; ``create_app(width_fn=…)``
takes another (the tests pass a stand-in whose cuts are plain arithmetic).

The profiles follow ../shared/seo-quality.md §2.1: desktop titles 20 px in a 600 px line,
descriptions 14 px in two lines (~985 px in all); mobile titles 16 px in two lines of a
400 px card, descriptions 14 px in three lines of 360 px (Portent's ~120 characters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..quality.widths import width_is_estimated

#: ``width_fn(text, size_px)``: the rendered width of ``text`` in pixels.
WidthFn = Callable[[str, float], float]

ELLIPSIS: Final = "…"
#: Separators not left dangling before the ellipsis.
_TRAILING: Final = " ,;:-–—|"


@dataclass(frozen=True)
class Field:
    """How one field of a result is laid out: font size, line width, how many lines."""

    size_px: float
    line_px: float
    lines: int

    @property
    def budget_px(self) -> float:
        return self.line_px * self.lines


@dataclass(frozen=True)
class Profile:
    name: str
    title: Field
    description: Field


DESKTOP: Final = Profile("desktop", title=Field(20, 600, 1), description=Field(14, 492.5, 2))
MOBILE: Final = Profile("mobile", title=Field(16, 400, 2), description=Field(14, 360, 3))
PROFILES: Final = (DESKTOP, MOBILE)


@dataclass(frozen=True)
class Cut:
    """A text as the result shows it."""

    text: str  #: the whole text
    shown: str  #: what is visible, "…" included when cut
    hidden: str  #: what the cut hides ("" when it fits)
    width_px: float  #: the whole text's width
    budget_px: float  #: the room it has (lines × line width)
    lines: tuple[str, ...]  #: the visible lines

    @property
    def truncated(self) -> bool:
        return bool(self.hidden)


@dataclass(frozen=True)
class Preview:
    profile: str
    url: str
    title: Cut
    description: Cut
    estimated: bool  #: some character is in neither the font nor the full-width rule


def cut(text: str, field: Field, width_fn: WidthFn) -> Cut:
    """Wrap ``text`` at spaces into ``field.lines`` lines of ``field.line_px``; cut the rest.

    A word wider than a line is broken where it stops fitting (as browsers do with
    ``overflow-wrap``). The last visible line keeps room for "…" when text is hidden,
    and ends at a word when there is a space to end at.
    """
    text = " ".join((text or "").split())
    size, line_px = field.size_px, field.line_px
    total = width_fn(text, size)
    lines: list[str] = []
    pos = 0  # where the text not yet laid out starts
    while pos < len(text) and len(lines) < field.lines:
        rest = text[pos:]
        if width_fn(rest, size) <= line_px:
            lines.append(rest)
            pos = len(text)
            break
        last = len(lines) == field.lines - 1
        room = line_px - (width_fn(ELLIPSIS, size) if last else 0.0)
        n = _fits(rest, room, size, width_fn)
        space = rest.rfind(" ", 0, n + 1)
        if space > 0:
            n = space
        elif n == 0:
            n = 1  # never stall on a glyph wider than the line
        lines.append(rest[:n].rstrip())
        pos += n + (1 if rest[n:n + 1] == " " else 0)
    hidden = text[pos:]
    shown = text[:pos].rstrip()
    if hidden:
        lines[-1] = lines[-1].rstrip(_TRAILING) + ELLIPSIS
        shown = shown.rstrip(_TRAILING) + ELLIPSIS
    return Cut(text=text, shown=shown, hidden=hidden, width_px=round(total, 1),
               budget_px=field.budget_px, lines=tuple(lines))


def _fits(text: str, room: float, size: float, width_fn: WidthFn) -> int:
    """The longest prefix of ``text`` (in characters) at most ``room`` wide: binary search."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if width_fn(text[:mid], size) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo


def preview(url: str, title: str | None, description: str | None, width_fn: WidthFn) -> list[Preview]:
    """The result on each profile (desktop, then mobile)."""
    estimated = width_is_estimated(f"{title or ''} {description or ''}")
    return [
        Preview(p.name, url, cut(title or "", p.title, width_fn),
                cut(description or "", p.description, width_fn), estimated)
        for p in PROFILES
    ]
