"""The audit: what ``seobatch audit`` reports, computed by the same ``seobatch.audit``
(never a second implementation here): each check with its severity, the number and
share of pages, the worst examples; each check links to all its pages, a page at a time.

The scope is the CLI's: the site's published values (default), one job's generated
values (``?scope=job&job=N``, as ``--job N``) or the pages' own imported titles
(``?scope=live``, as ``--live``). The judging runs in the background, once per scope
and data version (``web.audit_cache``); until it is done the page says so and reloads.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from ... import audit
from ...models import SeoBatchJob
from ...quality.checks import CHECKS
from ...users import Role
from ..audit_cache import AuditCache, Busy, Overview
from ..auth import requires

bp = Blueprint("audit", __name__)

#: URLs on one page of a check's list.
PAGE_SIZE = 100
#: Worst examples per check on the overview (the CLI's text shows 3 too).
EXAMPLES = 3
SCOPES = ("published", "job", "live")
#: Seconds between the reloads of the "computing…" page.
REFRESH_SECONDS = 2
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


def _overview(scope: str, job: int | None) -> Overview:
    """The cached or running overview of the scope (a full cache of running audits: 503)."""
    cache: AuditCache = current_app.extensions["seobatch.audit_cache"]
    try:
        return cache.get(scope, job, {"examples": EXAMPLES, **_audit_args(scope, job)}, retry="retry" in request.args)
    except Busy as exc:
        abort(503, description=f"{exc}; try again in a minute")


def _pending(overview: Overview, scope: str, job: int | None) -> Response:
    """The "computing…" page (it reloads itself: no script, the CSP allows none inline) or
    the one-line failure."""
    again = {k: v for k, v in request.args.items() if k != "retry"}  # a reload joins, it does not retry
    here = {"endpoint": request.endpoint or "audit.overview", **(request.view_args or {}), **again}
    body = render_template("audit_pending.html", overview=overview, refresh=REFRESH_SECONDS,
                           reload_url=url_for(**here), retry_url=url_for(**here, retry=1),
                           what=_WHAT[scope].format(job=job), links=_link_args(scope, job))
    return Response(body, status=200, headers={"Cache-Control": "no-store"})


@bp.get("/audit")
@requires(Role.VIEWER)
def overview() -> str | Response:
    scope, job = _scope()
    found = _overview(scope, job)
    if found.running or found.report is None:
        return _pending(found, scope, job)
    data = found.report
    fired = [c for c in data["checks"] if c["count"]]
    clean = sorted(c["check"] for c in data["checks"] if not c["count"])
    return render_template(
        "audit.html", report=data, fired=fired, clean=clean, scope=scope, job=job,
        what=_WHAT[scope].format(job=job), links=_link_args(scope, job), meaning=_meanings(),
        recent_jobs=SeoBatchJob.select(SeoBatchJob.id).order_by(SeoBatchJob.id.desc()).limit(20).tuples(),
    )


@bp.get("/audit/<check>")
@requires(Role.VIEWER)
def pages(check: str) -> str | Response:
    if check not in audit.ALL_CHECKS:
        abort(404, description="no such check")
    scope, job = _scope()
    after = request.args.get("after", "")[:2048]
    found = _overview(scope, job)
    if found.running or found.report is None:
        return _pending(found, scope, job)
    row = next(c for c in found.report["checks"] if c["check"] == check)
    page_count = found.report["pages"]
    kept = found.page_of(check, after, PAGE_SIZE)
    if kept is not None:
        urls, next_after = kept
    else:  # more URLs than the cache keeps: one streaming pass, as before the cache
        streamed = audit.check_pages(check, after=after, limit=PAGE_SIZE, examples=1, **_audit_args(scope, job))
        row = next(c for c in streamed.report.to_dict()["checks"] if c["check"] == check)
        urls, next_after, page_count = streamed.urls, streamed.next_after, streamed.report.pages
    return render_template(
        "audit_check.html", row=row, urls=urls, next_after=next_after, after=after,
        pages=page_count, scope=scope, job=job, what=_WHAT[scope].format(job=job),
        links=_link_args(scope, job), meaning=audit.ALL_CHECKS[check].meaning,
        in_queue=check in CHECKS,  # the per-reply checks are on the proposals too
    )


def _meanings() -> dict[str, str]:
    return {name: c.meaning for name, c in audit.ALL_CHECKS.items()}
