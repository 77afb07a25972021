"""The names of the quality checks and repairs: one place, stable identifiers.

A check's name is what ``seobatch audit --json`` reports and what item results store, so
a name never changes meaning. Severities follow Screaming Frog's issue types (Issue >
Warning > Opportunity, seo-quality.md §1); the action is the ladder of §4: ``reject``
keeps the page's published value and retries with ``reason`` in the next prompt,
``flag`` publishes and lists the page in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["issue", "warning", "opportunity"]
Action = Literal["publish", "flag", "reject"]

ISSUE: Severity = "issue"
WARNING: Severity = "warning"
OPPORTUNITY: Severity = "opportunity"
PUBLISH: Action = "publish"
FLAG: Action = "flag"
REJECT: Action = "reject"


@dataclass(frozen=True)
class Check:
    """A check that can fire on a reply: its severity, what the gate does, what it means."""

    name: str
    severity: Severity
    action: Action
    meaning: str


#: The ladder (seo-quality.md §4): what is an issue is rejected; warnings and opportunities
#: are published and flagged. A check's action follows from its severity, so no row says it.
LADDER: dict[Severity, Action] = {ISSUE: REJECT, WARNING: FLAG, OPPORTUNITY: FLAG}


def _checks(*rows: tuple[str, Severity, str]) -> dict[str, Check]:
    return {name: Check(name, severity, LADDER[severity], meaning) for name, severity, meaning in rows}


#: Every check, by name (seo-quality.md §1 row in brackets).
CHECKS: dict[str, Check] = _checks(
    ("title_empty", ISSUE, "no title text is left once artefacts and the brand are removed (T1)"),
    ("title_placeholder", ISSUE,
     "the title is a placeholder, vague or half-empty: 'Home', 'Untitled', only the brand or a domain (T2)"),
    ("title_artefact", ISSUE,
     "the title carries model chatter that cannot be cut away cleanly ('Here is a title…') (T15)"),
    ("title_too_wide", ISSUE, "the title is over the hard pixel limit even after every repair (T4)"),
    ("title_wide", OPPORTUNITY, "the title is between the warning and the hard pixel limit (T4)"),
    ("title_too_narrow", OPPORTUNITY, "the title is under the minimum pixel width (T6)"),
    ("title_keyword_stuffing", ISSUE, "a word is repeated in the title as often as the stuffing limit (T9)"),
    ("title_brand_repeated", ISSUE,
     "the brand is still named more than once in the title after the brand repair (T14)"),
    ("title_same_as_h1", OPPORTUNITY, "the title equals the page's H1 (T7)"),
    ("description_empty", ISSUE, "no description text is left once artefacts are removed (D1)"),
    ("description_artefact", ISSUE, "the description carries model chatter that cannot be cut away cleanly (D11)"),
    ("description_too_wide", ISSUE,
     "the description is over the hard pixel limit and cannot be cut within the allowed share (D3)"),
    ("description_wide", OPPORTUNITY, "the description is over the warning pixel width; Google cuts it (D3)"),
    ("description_too_narrow", OPPORTUNITY, "the description is under the minimum pixel width (D4)"),
    ("description_keyword_stuffing", ISSUE,
     "a word is repeated in the description as often as the stuffing limit (D5)"),
    ("description_same_as_title", WARNING, "the description repeats the title (D6)"),
    ("script_mismatch", ISSUE, "the reply is written in another writing system than the page (T11/D9)"),
    ("language_mismatch", ISSUE,
     "the reply is identified, with high confidence, as another language than the page's (T11/D9)"),
    ("ungrounded_price", ISSUE, "a price or currency amount that the page does not state (T13/D8)"),
    ("ungrounded_percent", ISSUE, "a percentage that the page does not state (T13/D8)"),
    ("ungrounded_number", ISSUE, "a number that the page does not state (T13/D8)"),
    ("ungrounded_year", ISSUE, "a year that the page does not state: obsolete or invented (T12)"),
    ("ungrounded_offer", ISSUE, "an offer the page does not make: free shipping, % off, sale, discount… (T13/D8)"),
    ("ungrounded_superlative", ISSUE,
     "a superlative or ranking claim the page does not make: best, #1, cheapest, official… (T13/D8)"),
)

#: Checks over the whole site (stages/site.py, ``seobatch audit``), by name (§1c).
SITE_CHECKS: dict[str, Check] = _checks(
    ("title_duplicate", WARNING,
     "another page of the same host and language has the same title; all but one are regenerated (S1)"),
    ("description_duplicate", WARNING,
     "another page of the same host and language has the same description; all but one are regenerated (S2)"),
    ("title_template", OPPORTUNITY,
     "one template over many pages: the same title with only the page's own words changed (S3/S4)"),
    ("title_same_as_other_h1", OPPORTUNITY, "the title equals another page's H1 or title (S5)"),
)

#: Checks only ``seobatch audit`` reports: a value as it stands that the gate would repair.
AUDIT_CHECKS: dict[str, Check] = _checks(
    ("title_brand_inconsistent", WARNING,
     "the title does not carry the site's one brand format (SEOBATCH_BRAND, SEOBATCH_BRAND_FORMAT) (S6/T14)"),
)

#: Every repair the gate may apply, by name (seo-quality.md §4 "Repair").
REPAIRS: dict[str, str] = {
    "artefact_removed": "wrapping quotes, a 'Title:' prefix, Markdown or a '(48 characters)' count removed",
    "segment_deduplicated": "a title segment that was written twice ('X | Shop | Shop') kept once",
    "brand_removed": "the brand as the model wrote it (any separator, case or side) taken off the title",
    "brand_applied": "the site's one brand format applied to the title in code",
    "brand_dropped": "the brand left off because the title would be over the hard pixel limit with it",
    "title_cut_at_separator": "the title cut at its last separator that fits ( | , – , : )",
    "title_cut_at_word": "the title cut at its last word boundary that fits, without '…'",
    "description_cut_at_sentence": "the description cut at its last sentence end that fits",
    "description_cut_at_word": "the description cut at its last word boundary that fits, without '…'",
}


def check(name: str) -> Check:
    """The check called ``name`` (KeyError for a name that is not defined here)."""
    return CHECKS[name]


__all__ = [
    "AUDIT_CHECKS", "CHECKS", "FLAG", "ISSUE", "SITE_CHECKS", "OPPORTUNITY", "PUBLISH", "REJECT", "REPAIRS", "WARNING",
    "Action", "Check", "Severity", "check",
]
