"""The quality gate: one parsed reply judged against its page, repaired, and given a verdict.

Input is what ``output.parse_reply`` returns (a sanitised title and description: its
injection, refusal, URL and length checks run first and stay) and the page. Output is a
``Verdict``: ``publish`` (nothing fired), ``flag`` (publish, and list the page in the
report), or ``reject`` (keep the page's published value; retry next night with
``reason`` in the prompt). The ladder is seo-quality.md §4:

1. artefacts are cut away (quotes, ``Title:``, Markdown, "(48 characters)"); chatter
   that cannot be cut ("Here is a title…") rejects;
2. a doubled segment is kept once; the brand, as the model wrote it, is taken off both
   ends and the site's one brand format applied in code (``QualityProfile.brand``);
3. a title over the hard pixel limit loses the brand, then is cut at its last separator
   that fits, then at a word; never with "…", never under the minimum, else rejected;
   a description over its hard limit is cut at a sentence, then a word, by at most
   ``description_max_cut`` of its width, else rejected;
4. the result is checked: placeholder, stuffing, claims not on the page, script and
   language, and the flags (wide, narrow, same as H1, description same as title).

Checks and repairs are named in ``checks.CHECKS`` / ``checks.REPAIRS``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .checks import CHECKS, FLAG, PUBLISH, REJECT, Action, Severity
from .claims import find_ungrounded
from .language import (
    EXPECTED_FLOOR,
    MIN_LETTERS,
    MIN_SCRIPT_LETTERS,
    MIN_SCRIPT_SHARE,
    best_and_expected,
    best_and_expected_many,
    language_name,
    language_of_script,
    script_letters,
    script_share,
)
from .page import PageContext
from .profile import QualityProfile
from .repair import (
    brand_pattern,
    cut_at_sentence,
    cut_at_separator,
    cut_at_word,
    dedupe_segments,
    find_chatter,
    join_segments,
    norm_key,
    remove_brand,
    segment_key,
    split_segments,
    strip_artefacts,
)
from .widths import UNITS_PER_EM, averaged_in, text_units

#: Longest text that can be a placeholder ("just another wordpress site" is 27).
_PLACEHOLDER_CHARS = 40
#: Longest text of a reply quoted in a detail or a reason.
_QUOTE = 60

_WORD_RE = re.compile(r"\w+")
_DOMAIN_RE = re.compile(r"^(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+/?$", re.IGNORECASE)
#: Vague or CMS-default titles (T2), compared after ``segment_key`` (case and edge
#: punctuation folded).
PLACEHOLDERS = frozenset({
    "home", "homepage", "home page", "start", "start page", "main page", "index", "default", "untitled",
    "untitled page", "untitled document", "no title", "new page", "page", "page title", "title", "my title",
    "profile", "welcome", "test", "test page", "sample page", "hello world", "document", "site", "website",
    "my site", "my blog", "blog", "just another wordpress site", "coming soon", "null", "undefined", "none",
    "accueil", "page d accueil", "startseite", "inicio", "página de inicio", "pagina principale",
    "página principal", "главная", "главная страница", "ホーム", "首页", "홈", "page d'accueil", "page d’accueil",
})


@dataclass(frozen=True, slots=True)
class Finding:
    """A check that fired: its name and severity (from ``CHECKS``), the field, what was seen."""

    name: str
    severity: Severity
    field: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "severity": self.severity, "field": self.field, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Repair:
    """A repair applied (a name from ``REPAIRS``), to which field, before → after."""

    name: str
    field: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "field": self.field, "detail": self.detail}


@dataclass(slots=True)
class Verdict:
    """What the gate decided for one reply. ``title``/``description`` are the repaired
    candidate; on ``reject`` they must not be published (the page keeps its value)."""

    action: Action
    title: str
    description: str
    checks: tuple[Finding, ...] = ()
    repairs: tuple[Repair, ...] = ()
    title_px: float = 0.0
    description_px: float = 0.0
    #: Some character's width came from the fallback (a script Liberation Sans lacks).
    widths_estimated: bool = False
    #: The reply's language as identified (or implied by its script); None: not identified.
    language: str | None = None
    language_confidence: float | None = None
    #: The page's language: its attribute, else identified from its text; None: unknown.
    page_language: str | None = None
    #: How the language was settled: script, page_words, identifier, too_short, unknown.
    language_method: str = "unknown"
    #: For a reject: what the next prompt should tell the model.
    reason: str | None = None

    @property
    def published(self) -> bool:
        return self.action != REJECT

    @property
    def check_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (what an item result stores)."""
        return {
            "action": self.action,
            "title": self.title,
            "description": self.description,
            "checks": [f.to_dict() for f in self.checks],
            "repairs": [r.to_dict() for r in self.repairs],
            "widths": {"title_px": self.title_px, "description_px": self.description_px,
                       "estimated": self.widths_estimated},
            "language": {"found": self.language, "confidence": self.language_confidence,
                         "page": self.page_language, "method": self.language_method},
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        widths, lang = data.get("widths") or {}, data.get("language") or {}
        return cls(
            action=data["action"], title=data["title"], description=data["description"],
            checks=tuple(Finding(**f) for f in data.get("checks") or ()),
            repairs=tuple(Repair(**r) for r in data.get("repairs") or ()),
            title_px=widths.get("title_px", 0.0), description_px=widths.get("description_px", 0.0),
            widths_estimated=widths.get("estimated", False),
            language=lang.get("found"), language_confidence=lang.get("confidence"),
            page_language=lang.get("page"), language_method=lang.get("method", "unknown"),
            reason=data.get("reason"),
        )


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[: _QUOTE - 1] + "…")


class QualityGate:
    """The gate for one profile (brand pattern and pixel budgets worked out once)."""

    def __init__(self, profile: QualityProfile | None = None) -> None:
        self.profile = p = profile or QualityProfile()
        self._title_scale = UNITS_PER_EM / p.title_font_px
        self._desc_scale = UNITS_PER_EM / p.description_font_px
        self._title_max = p.title_max_px * self._title_scale
        self._title_min = p.title_min_px * self._title_scale
        self._desc_max = p.description_max_px * self._desc_scale
        self._desc_min = p.description_min_px * self._desc_scale
        self._title_warn = p.title_warn_px * self._title_scale
        self._desc_warn = p.description_warn_px * self._desc_scale
        self._decoration_units = text_units(p.brand_decoration) if p.brand else 0
        self._brand_key = segment_key(p.brand) if p.brand else ""
        self._brand_re = brand_pattern(p.brand) if p.brand else None
        self._brand_words = frozenset(norm_key(p.brand).split())

    def judge(self, title: str, description: str, page: PageContext) -> Verdict:
        """The verdict for a parsed, sanitised reply (``SeoFields``' title and description)."""
        draft = self._draft(title, description, page)
        if draft.ask is not None:
            draft.identified(*best_and_expected(*draft.ask))
        return draft.verdict()

    def judge_many(self, replies: Sequence[tuple[str, str, PageContext]]) -> list[Verdict]:
        """``judge`` for each (title, description, page); the replies that need the language
        identifier are scored together (``best_and_expected_many``: one vectorised pass
        instead of a dozen small numpy calls per reply, each of which let the results
        stage's other lane take the GIL)."""
        drafts = [self._draft(title, description, page) for title, description, page in replies]
        asking = [draft for draft in drafts if draft.ask is not None]
        answers = best_and_expected_many([draft.ask for draft in asking if draft.ask is not None])
        for draft, answer in zip(asking, answers, strict=True):
            draft.identified(*answer)
        return [draft.verdict() for draft in drafts]

    def _draft(self, title: str, description: str, page: PageContext) -> _Draft:
        """Every check but the language identifier's, whose question is left in ``ask``."""
        p = self.profile
        draft = _Draft(self.profile.language_confidence)
        repairs, reasons, fire = draft.repairs, draft.reasons, draft.fire
        title_out, core, title_words, title_units = self._title(title, page, fire, repairs)
        desc_out, desc_words, desc_units = self._description(description, page, fire, repairs)
        title_px = title_units / self._title_scale
        desc_px = desc_units / self._desc_scale

        # Flags on the published form.
        if title_out:
            if title_units > self._title_warn and title_units <= self._title_max:
                fire("title_wide", "title", f"{title_px:.0f} px, over the {p.title_warn_px:g} px warning width")
            if title_units < self._title_min:
                fire("title_too_narrow", "title", f"{title_px:.0f} px, under {p.title_min_px:g} px")
            if page.h1 and _same(page.h1, title_out, core):
                fire("title_same_as_h1", "title", f"the title repeats the H1 {_quote(page.h1)}")
        if desc_out:
            if desc_units > self._desc_warn and desc_units <= self._desc_max:
                fire("description_wide", "description",
                     f"{desc_px:.0f} px, over the {p.description_warn_px:g} px Google shows")
            if desc_units < self._desc_min:
                fire("description_too_narrow", "description", f"{desc_px:.0f} px, under {p.description_min_px:g} px")
            if title_out and _same(desc_out, title_out, core):
                fire("description_same_as_title", "description", "the description repeats the title")

        # Stuffing and claims.
        self._stuffing(title_words, p.title_stuffing, "title", fire)
        self._stuffing(desc_words, p.description_stuffing, "description", fire)
        unstated: list[str] = []
        for field_, text, words in (("title", core, title_words), ("description", desc_out, desc_words)):
            for claim in find_ungrounded(text, words, page.source, page.source_lower):
                fire(claim.check, field_, f"{_quote(claim.text)} is not on the page")
                unstated.append(_quote(claim.text))
        if unstated:
            reasons.append(f"use only facts the page states; it does not say {', '.join(dict.fromkeys(unstated))}")

        reply = f"{core} {desc_out}"
        draft.lang = self._language(reply, title_words + desc_words, page, fire)
        if draft.lang is None:
            draft.ask = (reply, page.language() or "")
        draft.fields = (title_out, desc_out, round(title_px, 1), round(desc_px, 1),
                        averaged_in(title_out) or averaged_in(desc_out))
        return draft

    # --- title -----------------------------------------------------------------------

    def _title(
        self, title: str, page: PageContext, fire: Any, repairs: list[Repair]
    ) -> tuple[str, str, list[str], int]:
        """(the title to publish, its core without the brand, the core's lower-case words,
        the title's width in font units)."""
        p = self.profile
        text = strip_artefacts(title)
        if text != title:
            repairs.append(Repair("artefact_removed", "title", f"{_quote(title)} → {_quote(text)}"))
        words = _WORD_RE.findall(text.lower())
        chatter = find_chatter(text, words)
        if chatter and not page.says(chatter):
            fire("title_artefact", "title", f"model chatter {_quote(chatter)}",
                 "reply with the title and description only, no comments or labels")
        if not text:
            fire("title_empty", "title", "nothing is left of the title", "write a title for this page")
            return "", "", [], 0
        segments, separators = split_segments(text)
        if len(segments) > 1:
            kept = dedupe_segments(segments, separators)
            if len(kept[0]) < len(segments):
                segments, separators = kept
                deduped = strip_artefacts(join_segments(segments, separators))  # a new end may be "…"
                repairs.append(Repair("segment_deduplicated", "title", f"{_quote(text)} → {_quote(deduped)}"))
                text = deduped
        core = text
        if self._brand_key and len(segments) > 1:
            segments, separators = remove_brand(segments, separators, self._brand_key)
            core = join_segments(segments, separators).strip()
            if core != text:
                core = strip_artefacts(core)  # "X… | Northwind" leaves "X…"
        elif self._brand_key and segment_key(text) == self._brand_key:
            core = ""
        brand_in_core = len(self._brand_re.findall(core)) if self._brand_re else 0
        if self._placeholder(core, segments[0]):
            fire("title_placeholder", "title", f"{_quote(text)} says nothing about the page",
                 f"write a specific title about this page, not {_quote(text)}")
            return text, core, words, text_units(text)
        if brand_in_core > 1:
            fire("title_brand_repeated", "title", f"the brand is named {brand_in_core} times",
                 "name the brand at most once; it is added to the title for you")
        core_units = text_units(core)

        # The site's brand format, unless the title names the brand already (an article about it).
        if self._brand_re is not None and brand_in_core == 0:
            branded = p.brand_format.format(title=core, brand=p.brand)
            units = core_units + self._decoration_units
            if units <= self._title_max:
                if branded != text:
                    repairs.append(Repair("brand_applied", "title", f"{_quote(text)} → {_quote(branded)}"))
                return branded, core, words, units
            repairs.append(Repair("brand_dropped", "title",
                                  f"{_quote(branded)} would be {units / self._title_scale:.0f} px"))
        elif core != text:
            repairs.append(Repair("brand_removed", "title", f"{_quote(text)} → {_quote(core)}"))
        if core_units <= self._title_max:
            return core, core, words, core_units

        def fits(candidate: str) -> bool:
            return self._title_min <= text_units(candidate) <= self._title_max

        wide = core_units / self._title_scale
        cut = cut_at_separator(core, fits)
        name = "title_cut_at_separator"
        if cut is None:
            cut = cut_at_word(core, self._title_max, fits)
            name = "title_cut_at_word"
        if cut is None:
            fire("title_too_wide", "title",
                 f"{wide:.0f} px, over {p.title_max_px:g} px, and no cut keeps {p.title_min_px:g} px",
                 f"your last title was {wide:.0f} px wide; stay under {_target(p.title_warn_px)} px")
            return core, core, words, core_units
        repairs.append(Repair(name, "title", f"{_quote(core)} ({wide:.0f} px) → {_quote(cut)}"))
        return cut, cut, _WORD_RE.findall(cut.lower()), text_units(cut)

    def _placeholder(self, core: str, first: str) -> bool:
        """True for a vague, default or half-empty title (T2): the whole core or its first
        segment is empty, on ``PLACEHOLDERS``, or a bare domain ("Home | Northwind",
        "| Northwind", "northwind.com – shop")."""
        for text in (core, first) if first != core else (core,):
            if len(text) > _PLACEHOLDER_CHARS:
                continue  # no placeholder is this long: skip the folding
            key = segment_key(text)
            if not key or key in PLACEHOLDERS or ("." in text and _DOMAIN_RE.match(text.strip())):
                return True
        return False

    # --- description -----------------------------------------------------------------

    def _description(
        self, description: str, page: PageContext, fire: Any, repairs: list[Repair]
    ) -> tuple[str, list[str], int]:
        """(the description to publish, its lower-case words, its width in font units)."""
        p = self.profile
        text = strip_artefacts(description)
        if text != description:
            repairs.append(Repair("artefact_removed", "description", f"{_quote(description)} → {_quote(text)}"))
        words = _WORD_RE.findall(text.lower())
        chatter = find_chatter(text, words)
        if chatter and not page.says(chatter):
            fire("description_artefact", "description", f"model chatter {_quote(chatter)}",
                 "reply with the title and description only, no comments or labels")
        if not text:
            fire("description_empty", "description", "nothing is left of the description",
                 "write a meta description for this page")
            return "", [], 0
        units = text_units(text)
        if units <= self._desc_max:
            return text, words, units
        floor = max(self._desc_min, units * (1 - p.description_max_cut))

        def fits(candidate: str) -> bool:
            return floor <= text_units(candidate) <= self._desc_max

        wide = units / self._desc_scale
        cut = cut_at_sentence(text, fits)
        name = "description_cut_at_sentence"
        if cut is None:
            cut = cut_at_word(text, self._desc_max, fits)
            name = "description_cut_at_word"
        if cut is None:
            fire("description_too_wide", "description",
                 f"{wide:.0f} px, over {p.description_max_px:g} px, and no cut within "
                 f"{p.description_max_cut:.0%} fits",
                 f"your last description was {wide:.0f} px wide; stay under "
                 f"{_target(p.description_warn_px)} px")
            return text, words, units
        cut_units = text_units(cut)
        repairs.append(Repair(name, "description", f"{wide:.0f} px → {cut_units / self._desc_scale:.0f} px"))
        return cut, _WORD_RE.findall(cut.lower()), cut_units

    # --- checks ------------------------------------------------------------------------

    def _stuffing(self, words: list[str], limit: int, field_: str, fire: Any) -> None:
        """A content word (4+ letters, not the brand; a plural "s" folded) ``limit`` times."""
        long = [w for w in words if len(w) >= 4]
        if len(long) - len(set(long)) < limit - 2:
            return  # too few repeats for any word (or its two forms) to reach the limit
        counts: dict[str, int] = {}
        for w, n in Counter(long).items():
            if w in self._brand_words or w.isdigit():
                continue
            stem = w[:-1] if len(w) > 4 and w.endswith("s") else w
            counts[stem] = counts.get(stem, 0) + n
        if not counts:
            return
        word = max(counts, key=counts.__getitem__)
        if counts[word] >= limit:
            fire(f"{field_}_keyword_stuffing", field_, f"{word!r} {counts[word]} times",
                 f"do not repeat {word!r}; name it once in the {field_}")

    def _language(
        self, reply: str, words: list[str], page: PageContext, fire: Any
    ) -> tuple[str | None, float | None, str | None, str] | None:
        """(language found, confidence, page language, method) when something cheaper than
        the identifier decides (fires on a script mismatch); None: the identifier must
        (``_Draft.identified``, against ``page.language()``)."""
        scripts = page.scripts()
        declared = page.declared_language
        counts = script_letters(reply)
        letters = sum(counts.values())
        if scripts is None:
            return None, None, declared, "unknown"
        if letters < MIN_SCRIPT_LETTERS:
            return None, None, declared, "too_short"
        if script_share(counts, scripts) < MIN_SCRIPT_SHARE:
            main = max(counts, key=counts.__getitem__)
            wanted = declared or page.language()
            fire("script_mismatch", "title", f"written in {main} script; the page is in "
                 f"{'/'.join(sorted(scripts))}",
                 f"write in {language_name(wanted)}" if wanted else
                 f"write in the page's script ({'/'.join(sorted(scripts))})")
            return None, None, wanted, "script"
        implied = language_of_script(scripts, counts)
        if implied is not None:
            return implied, None, declared or implied, "script"
        if letters < MIN_LETTERS:
            return None, None, declared, "too_short"
        if page.shares_words(words):
            return None, None, declared, "page_words"
        if page.language() is None:
            return None, None, None, "unknown"
        return None


class _Draft:
    """A verdict being made: the checks fired so far, the repairs, the reasons; ``ask`` is
    the (reply, page language) the identifier still has to answer, or None."""

    __slots__ = ("ask", "confidence", "fields", "found", "lang", "reasons", "repairs")

    def __init__(self, confidence: float) -> None:
        self.confidence = confidence
        self.found: list[Finding] = []
        self.repairs: list[Repair] = []
        self.reasons: list[str] = []
        self.ask: tuple[str, str] | None = None
        self.lang: tuple[str | None, float | None, str | None, str] | None = None
        #: (title, description, title px, description px, widths estimated)
        self.fields: tuple[str, str, float, float, bool] = ("", "", 0.0, 0.0, False)

    def fire(self, name: str, field_: str, detail: str, reason: str | None = None) -> None:
        self.found.append(Finding(name, CHECKS[name].severity, field_, detail))
        if reason and CHECKS[name].action == REJECT and reason not in self.reasons:
            self.reasons.append(reason)

    def identified(self, best: str, p_best: float, p_expected: float) -> None:
        """The identifier's answer to ``ask``: a mismatch when it is sure of another
        language and gives the page's almost no chance."""
        assert self.ask is not None
        expected = self.ask[1]
        if best != expected and p_best >= self.confidence and p_expected < EXPECTED_FLOOR:
            self.fire("language_mismatch", "title", f"the reply reads as {language_name(best)} ({best}, "
                      f"{p_best:.2f}); the page is {language_name(expected)} ({expected})",
                      f"write in {language_name(expected)}")
        self.lang = (best, round(p_best, 3), expected, "identifier")

    def verdict(self) -> Verdict:
        found, lang = self.found, self.lang or (None, None, None, "unknown")
        if not found:
            action: Action = PUBLISH
        elif any(CHECKS[f.name].action == REJECT for f in found):
            action = REJECT
        else:
            action = FLAG
        title, description, title_px, desc_px, estimated = self.fields
        return Verdict(
            action, title, description, tuple(found), tuple(self.repairs), title_px, desc_px, estimated,
            lang[0], lang[1], lang[2], lang[3], "; ".join(self.reasons) if action == REJECT else None,
        )


def _same(text: str, title: str, core: str) -> bool:
    """True when ``text`` equals the title or its core, folded (lengths first: cheap)."""
    for other in (title, core):
        if abs(len(text) - len(other)) <= 8 and norm_key(text) == norm_key(other):
            return True
    return False


def _target(limit: float) -> int:
    """A round number under ``limit`` to aim at in a prompt (561 → 560)."""
    return max(10, int(limit // 10 * 10))


_DEFAULT_GATE: QualityGate | None = None


def judge(title: str, description: str, page: PageContext, profile: QualityProfile | None = None) -> Verdict:
    """``QualityGate(profile).judge(...)``; the default profile's gate is built once."""
    global _DEFAULT_GATE
    if profile is not None:
        return QualityGate(profile).judge(title, description, page)
    if _DEFAULT_GATE is None:
        _DEFAULT_GATE = QualityGate()
    return _DEFAULT_GATE.judge(title, description, page)


__all__ = ["PLACEHOLDERS", "Finding", "PageContext", "QualityGate", "Repair", "Verdict", "judge"]
