"""The quality gate of generated titles and descriptions (issue 12; seo-quality.md).

    widths     pixel widths in Arial metrics (Liberation Sans table in seobatch/data)
    checks     the names of every check and repair: severity, action, meaning
    profile    QualityProfile: pixel limits, brand format, thresholds (SEOBATCH_* settings)
    language   script and language of a reply against the page's (py3langid)
    identifier py3langid's scores, computed faster (one reply or a block of them)
    page       PageContext: the page a reply is judged against
    claims     numbers, prices, years, offers, superlatives the page must state
    repair     artefacts, brand, cuts at a separator, sentence or word
    gate       Verdict, QualityGate.judge / judge_many: the ladder reject / repair / flag
"""

from __future__ import annotations

from .checks import CHECKS, FLAG, PUBLISH, REJECT, REPAIRS, Check
from .gate import Finding, PageContext, QualityGate, Repair, Verdict, judge
from .language import warm_up
from .profile import ENV, QualityProfile
from .widths import DESCRIPTION_FONT_PX, TITLE_FONT_PX, text_width_px, truncate_at_px

__all__ = [
    # Checks
    "CHECKS", "REPAIRS", "Check", "PUBLISH", "FLAG", "REJECT",
    # Gate
    "Finding", "PageContext", "QualityGate", "Repair", "Verdict", "judge", "warm_up",
    # Profile
    "ENV", "QualityProfile",
    # Widths
    "DESCRIPTION_FONT_PX", "TITLE_FONT_PX", "text_width_px", "truncate_at_px",
]
