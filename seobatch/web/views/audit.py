"""The audit: each quality check with its severity, how many proposed revisions it fired
on and their share, linking to those pages in the review queue. (A simple version over
the checks the revisions carry, until ``seobatch audit`` from the gate branch lands.)"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ...models import Role
from ...quality.checks import CHECKS
from ...revisions import State
from ..auth import requires
from ..queries import check_counts

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@requires(Role.VIEWER)
def overview() -> str:
    state = State.PUBLISHED if request.args.get("state") == "published" else State.PROPOSED
    total, counts = check_counts(state)
    ordered = sorted(CHECKS.values(), key=lambda c: (-counts.get(c.name, 0), c.name))
    rows = [{"name": c.name, "severity": c.severity, "meaning": c.meaning, "count": counts.get(c.name, 0),
             "share": counts.get(c.name, 0) / total if total else 0.0} for c in ordered]
    return render_template("audit.html", rows=rows, total=total, state=state)
