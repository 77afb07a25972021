"""The revision vocabulary: states, sources, publishing policies, and why one waits.

Spelled here and only here (like ``jobmeta`` for jobs): elsewhere a state is one of
these names, so a typo is an ``AttributeError``, not a row nobody finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .errors import ConfigError


class State(StrEnum):
    """Where a revision stands. A page has at most one ``published`` revision."""

    PROPOSED = "proposed"  #: waits for a reviewer (policy, flag or change budget)
    APPROVED = "approved"  #: approved by a reviewer; published in the same transaction
    REJECTED = "rejected"  #: refused by a reviewer, or stored for a locked page
    PUBLISHED = "published"  #: the page's live value (``seo_title``/``seo_description``)
    SUPERSEDED = "superseded"  #: replaced by a newer one (or an original never restored)
    ROLLED_BACK = "rolled_back"  #: published once, undone by ``seobatch rollback``


class Source(StrEnum):
    ORIGINAL = "original"  #: the page before seobatch: the import's title
    GENERATED = "generated"  #: a model's reply that passed validation


class Policy(StrEnum):
    """``SEOBATCH_PUBLISH``: what the results stage publishes at once."""

    AUTO = "auto"  #: every reply that passes, flagged ones too (listed in the counts)
    FLAGGED = "flagged"  #: flagged replies wait for review
    REVIEW = "review"  #: everything waits for review


class Reason(StrEnum):
    """Why a generated revision was not published at once (``PageRevision.reason``)."""

    REVIEW = "review"  #: SEOBATCH_PUBLISH=review
    FLAGGED = "flagged"  #: SEOBATCH_PUBLISH=flagged and the gate flagged it
    BUDGET = "budget"  #: over the night's SEOBATCH_MAX_CHANGES
    LOCKED = "seo_locked"  #: the page is edited by hand: never overwritten
    GATE = "quality_gate"  #: the gate rejected it


#: ``decided_by`` of what the results stage decided on its own.
SYSTEM: Final = "seobatch"
#: ``change_id`` of what a job's results stage published.
def stage_change(job_id: int) -> str:
    return f"job-{int(job_id)}"


_BUDGET_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class ChangeBudget:
    """``SEOBATCH_MAX_CHANGES``: how many live pages one run (a night) may change,
    as a count (``500``) or a share of the site's pages (``5%``). None: no limit."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, raw: str | None, name: str = "SEOBATCH_MAX_CHANGES") -> ChangeBudget:
        if raw is None or not raw.strip():
            return cls()
        match = _BUDGET_RE.match(raw)
        if not match:
            raise ConfigError(f"{name} must be a count (500) or a percentage (5%), got {raw!r}")
        number, percent = match.groups()
        if percent:
            value = float(number)
            if not 0 <= value <= 100:
                raise ConfigError(f"{name} must be a percentage from 0% to 100%, got {raw!r}")
            return cls(percent=value)
        if "." in number:
            raise ConfigError(f"{name} must be a whole number of pages or a percentage, got {raw!r}")
        return cls(count=int(number))

    @property
    def limited(self) -> bool:
        return self.count is not None or self.percent is not None

    def pages(self, site_pages: int) -> int | None:
        """The limit for a site of ``site_pages`` pages, None when unlimited."""
        if self.count is not None:
            return self.count
        if self.percent is not None:
            return int(site_pages * self.percent / 100)
        return None

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        if self.percent is not None:
            return f"{self.percent:g}%"
        return ""
