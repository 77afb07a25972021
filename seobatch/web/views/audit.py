"""The audit: what ``seobatch audit`` reports, computed by the same ``seobatch.audit``
(never a second implementation here): each check with its severity, the number and
share of pages, the worst examples; each check links to all its pages, a page at a time.

The scope is the CLI's: the site's published values (default), one job's generated
values (``?scope=job&job=N``, as ``--job N``) or the pages' own imported titles
(``?scope=live``, as ``--live``). Each request judges every page again, as the CLI does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from ... import audit
from ...models import SeoBatchJob
from ...quality.checks import CHECKS
from ...users import Role
from ..auth import requires

bp = Blueprint("audit", __name__)

#: URLs on one page of a check's list.
PAGE_SIZE = 100
#: Worst examples per check on the overview (the CLI's text shows 3 too).
EXAMPLES = 3
SCOPES = ("published", "job", "live")
_WHAT = {"published": "the published values", "live": "the pages' own titles", "job": "the values job {job} generated"}


def _scope() -> tuple[str, int | None]:
    """The scope from the query (``scope``, ``job``); a bad one is a 400, a missing job a 404."""
    scope = request.args.get("scope", "published")
    job = (request.args.get("job") or "").strip()
    if scope not in SCOPES:
        abort(400, description="scope must be published, job or live")
    if scope != "job":
        return scope, None
    if not job.isdigit():
        abort(400, description=f"job must be a job id (a number), got {job[:40]!r}")
    if SeoBatchJob.get_or_none(SeoBatchJob.id == int(job)) is None:
        abort(404, description=f"no job with id {job}")
    return scope, int(job)


def _audit_args(scope: str, job: int | None) -> dict[str, Any]:
    """``run_audit``'s arguments, as ``seobatch audit`` passes them."""
    settings = current_app.extensions["seobatch.settings"]
    return {"source": scope, "job": job, "profile": settings.quality, "chunk_size": settings.chunk_size}


def _link_args(scope: str, job: int | None) -> dict[str, Any]:
    return {} if scope == "published" else {"scope": scope, "job": job} if job is not None else {"scope": scope}


@bp.get("/audit")
@requires(Role.VIEWER)
def overview() -> str:
    scope, job = _scope()
    report = audit.run_audit(examples=EXAMPLES, **_audit_args(scope, job))
    data = report.to_dict()
    fired = [c for c in data["checks"] if c["count"]]
    clean = sorted(c["check"] for c in data["checks"] if not c["count"])
    return render_template(
        "audit.html", report=data, fired=fired, clean=clean, scope=scope, job=job,
        what=_WHAT[scope].format(job=job), links=_link_args(scope, job), meaning=_meanings(),
        recent_jobs=SeoBatchJob.select(SeoBatchJob.id).order_by(SeoBatchJob.id.desc()).limit(20).tuples(),
    )


@bp.get("/audit/<check>")
@requires(Role.VIEWER)
def pages(check: str) -> str:
    if check not in audit.ALL_CHECKS:
        abort(404, description="no such check")
    scope, job = _scope()
    after = request.args.get("after", "")[:2048]
    found = audit.check_pages(check, after=after, limit=PAGE_SIZE, examples=1, **_audit_args(scope, job))
    row = next(c for c in found.report.to_dict()["checks"] if c["check"] == check)
    return render_template(
        "audit_check.html", row=row, urls=found.urls, next_after=found.next_after, after=after,
        pages=found.report.pages, scope=scope, job=job, what=_WHAT[scope].format(job=job),
        links=_link_args(scope, job), meaning=audit.ALL_CHECKS[check].meaning,
        in_queue=check in CHECKS,  # the per-reply checks are on the proposals too
    )


def _meanings() -> dict[str, str]:
    return {name: c.meaning for name, c in audit.ALL_CHECKS.items()}
