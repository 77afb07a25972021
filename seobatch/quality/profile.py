"""The quality profile: pixel limits, the site's brand format and the gate's thresholds.

Defaults are seo-quality.md §2.1's desktop profile (Screaming Frog's filters and Yoast's
red line). Every field is an environment setting (``ENV`` maps field → variable); a
profile that makes every title impossible is a ``ConfigError`` when it is built, naming
the variable, rather than a night of rejects.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..errors import ConfigError
from .widths import DESCRIPTION_FONT_PX, TITLE_FONT_PX, text_width_px

DEFAULT_BRAND_FORMAT = "{title} | {brand}"

#: field → environment variable.
ENV: dict[str, str] = {
    "title_font_px": "SEOBATCH_TITLE_FONT_PX",
    "title_min_px": "SEOBATCH_TITLE_MIN_PX",
    "title_warn_px": "SEOBATCH_TITLE_WARN_PX",
    "title_max_px": "SEOBATCH_TITLE_MAX_PX",
    "description_font_px": "SEOBATCH_DESCRIPTION_FONT_PX",
    "description_min_px": "SEOBATCH_DESCRIPTION_MIN_PX",
    "description_warn_px": "SEOBATCH_DESCRIPTION_WARN_PX",
    "description_max_px": "SEOBATCH_DESCRIPTION_MAX_PX",
    "description_max_cut": "SEOBATCH_DESCRIPTION_MAX_CUT",
    "brand": "SEOBATCH_BRAND",
    "brand_format": "SEOBATCH_BRAND_FORMAT",
    "title_stuffing": "SEOBATCH_TITLE_STUFFING",
    "description_stuffing": "SEOBATCH_DESCRIPTION_STUFFING",
    "language_confidence": "SEOBATCH_LANGUAGE_CONFIDENCE",
}


@dataclass(frozen=True)
class QualityProfile:
    """What the gate measures against. Widths in CSS pixels at the given font sizes."""

    #: Title font size (Google desktop: 20 px Arial).
    title_font_px: float = TITLE_FONT_PX
    #: Narrower titles are flagged ``title_too_narrow``; repairs never cut below it.
    title_min_px: float = 200.0
    #: Wider titles are flagged ``title_wide`` (Screaming Frog's 561 px).
    title_warn_px: float = 561.0
    #: Wider titles are repaired (brand dropped, cut) or rejected (Yoast's red, 600 px).
    title_max_px: float = 600.0
    #: Description font size (Google desktop: 14 px Arial).
    description_font_px: float = DESCRIPTION_FONT_PX
    #: Narrower descriptions are flagged ``description_too_narrow``.
    description_min_px: float = 400.0
    #: Wider descriptions are flagged ``description_wide`` (Screaming Frog's 985 px).
    description_warn_px: float = 985.0
    #: Wider descriptions are cut at a sentence or word, or rejected (2 × 985 px).
    description_max_px: float = 1970.0
    #: The largest share of a description's width a cut may remove (else reject).
    description_max_cut: float = 0.3
    #: The site's brand, applied in code with ``brand_format``; empty: no brand.
    brand: str = ""
    #: How the brand joins a title: ``{title}`` and ``{brand}`` once each.
    brand_format: str = DEFAULT_BRAND_FORMAT
    #: A word this many times in the title is keyword stuffing (reject).
    title_stuffing: int = 3
    #: A word this many times in the description is keyword stuffing (reject).
    description_stuffing: int = 4
    #: A reply is a language mismatch only when identified at least this sure.
    language_confidence: float = 0.9

    def __post_init__(self) -> None:
        object.__setattr__(self, "brand", " ".join(self.brand.split()))
        for name in ("title_font_px", "description_font_px"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{ENV[name]} must be a number above 0, got {getattr(self, name)!r}")
        for kind in ("title", "description"):
            low, warn, high = (getattr(self, f"{kind}_{k}_px") for k in ("min", "warn", "max"))
            if not all(math.isfinite(v) and v >= 0 for v in (low, warn, high)):
                raise ConfigError(f"{kind} pixel limits must be numbers of 0 or more, got {low}, {warn}, {high}")
            if not low < high:
                raise ConfigError(
                    f"{ENV[kind + '_min_px']}={low:g} must be under {ENV[kind + '_max_px']}={high:g}: "
                    f"no {kind} could pass"
                )
            if not low <= warn <= high:
                raise ConfigError(
                    f"{ENV[kind + '_warn_px']}={warn:g} must lie between {ENV[kind + '_min_px']}={low:g} "
                    f"and {ENV[kind + '_max_px']}={high:g}"
                )
        if not 0 < self.description_max_cut < 1:
            raise ConfigError(
                f"{ENV['description_max_cut']} must be above 0 and under 1, got {self.description_max_cut}"
            )
        for name in ("title_stuffing", "description_stuffing"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{ENV[name]} must be at least 2, got {getattr(self, name)}")
        if not 0 < self.language_confidence <= 1:
            raise ConfigError(
                f"{ENV['language_confidence']} must be above 0 and at most 1, got {self.language_confidence}"
            )
        self._check_brand()

    def _check_brand(self) -> None:
        fmt = self.brand_format
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(fmt) if f is not None]
        except ValueError as exc:
            raise ConfigError(f"{ENV['brand_format']} {fmt!r} is not a valid format: {exc}") from None
        if sorted(names) != ["brand", "title"]:
            raise ConfigError(
                f"{ENV['brand_format']} {fmt!r} must contain {{title}} and {{brand}} once each and nothing "
                "else in braces (e.g. '{title} | {brand}')"
            )
        if not self.brand:
            return
        if not self.brand.isprintable() or any(c in self.brand for c in "{}<>"):
            raise ConfigError(f"{ENV['brand']} must be plain printable text without braces or tags")
        decoration = text_width_px(self.brand_decoration, self.title_font_px)
        room = self.title_max_px - self.title_min_px
        if decoration > room:
            raise ConfigError(
                f"{ENV['brand']}={self.brand!r} with {ENV['brand_format']}={fmt!r} takes {decoration:.0f} px of "
                f"a title; that leaves less than {ENV['title_min_px']}={self.title_min_px:g} px for the page's "
                f"own words under {ENV['title_max_px']}={self.title_max_px:g} px, so the brand could never be "
                "shown: shorten the brand or raise the limit"
            )

    @property
    def brand_decoration(self) -> str:
        """What the brand format adds to a title (``" | Northwind"``)."""
        return self.brand_format.format(title="", brand=self.brand)

    @property
    def brand_separator(self) -> str:
        """The text between title and brand in the format (``" | "``)."""
        before, _, after = self.brand_format.partition("{title}")
        return (after.split("{brand}", 1)[0] if "{brand}" in after else before.split("{brand}", 1)[1]).strip()

    @property
    def brand_first(self) -> bool:
        """True when the format puts the brand before the title."""
        return self.brand_format.index("{brand}") < self.brand_format.index("{title}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QualityProfile:
        """The profile from ``SEOBATCH_*`` variables (unset or empty: the default)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV[f.name]
            raw = env.get(name)
            if raw is None or not raw.strip():
                continue
            if f.type == "str":
                values[f.name] = raw
            elif f.type == "int":
                try:
                    values[f.name] = int(raw.strip())
                except ValueError:
                    raise ConfigError(f"{name} must be a whole number, got {raw.strip()!r}") from None
            else:
                try:
                    value = float(raw.strip())
                except ValueError:
                    raise ConfigError(f"{name} must be a number, got {raw.strip()!r}") from None
                if not math.isfinite(value):
                    raise ConfigError(f"{name} must be a finite number, got {raw.strip()!r}")
                values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["DEFAULT_BRAND_FORMAT", "ENV", "QualityProfile"]
