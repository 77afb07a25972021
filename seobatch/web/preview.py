"""The search-result preview: where Google would cut a title or description, computed here.

The cut does not depend on the browser's fonts: text is measured with a ``width_fn``
(``width_fn(text, size_px) -> px``), wrapped into the lines a result shows, and the last
line cut at a word with "…" when the text does not fit. The quality gate's pixel-width
table (``seobatch.quality.widths.text_width_px(text, size_px)``, Liberation Sans metrics)
is the width function: ``create_app`` takes it from there (``default_width_fn``), or from
its ``width_fn`` argument (the tests pass a stand-in). Without either, previews show the
whole text and say that no width table is installed.

The profiles follow ../shared/seo-quality.md §2.1: desktop titles 20 px in a 600 px line,
descriptions 14 px in two lines (~985 px in all); mobile titles 16 px in two lines of a
400 px card, descriptions 14 px in three lines of 360 px (Portent's ~120 characters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

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
    width_px: float | None  #: the whole text's width (None: no width table)
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
    measured: bool  #: False: no width table, so nothing was cut


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


def uncut(text: str, field: Field) -> Cut:
    text = " ".join((text or "").split())
    return Cut(text=text, shown=text, hidden="", width_px=None, budget_px=field.budget_px,
               lines=(text,))


def preview(url: str, title: str | None, description: str | None,
            width_fn: WidthFn | None) -> list[Preview]:
    """The result on each profile (desktop, then mobile); uncut without a width function."""
    if width_fn is None:
        return [Preview(p.name, url, uncut(title or "", p.title), uncut(description or "", p.description),
                        False) for p in PROFILES]
    return [
        Preview(p.name, url, cut(title or "", p.title, width_fn),
                cut(description or "", p.description, width_fn), True)
        for p in PROFILES
    ]


def default_width_fn() -> WidthFn | None:
    """The quality gate's width table, or None where it is not installed."""
    try:
        from ..quality.widths import text_width_px  # the gate ships separately (branch `quality`)
    except ImportError:
        return None
    return text_width_px
