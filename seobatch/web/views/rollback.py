"""Rollback of a job or a run (admins): a confirmation with the dry run's count, then the
real ``revisions.rollback`` as the signed-in user."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ... import revisions
from ...errors import SeobatchError
from ...users import Role
from ..auth import requires

log = logging.getLogger(__name__)
bp = Blueprint("rollback", __name__)


def _target(source: Any) -> tuple[dict[str, Any], list[int]]:
    job = (source.get("job") or "").strip()
    run = (source.get("run") or "").strip()[:200]
    if bool(job) == bool(run):
        abort(400, description="name a job (job=N) or a run (run=R)")
    if job and not job.isdigit():
        abort(400, description=f"job must be a job id (a number), got {job[:40]!r}")
    try:
        jobs = revisions.resolve_jobs(job=int(job) if job else None, run=run or None)
    except SeobatchError as exc:
        abort(404, description=str(exc))
    return ({"job": job} if job else {"run": run}), jobs


@bp.route("/rollback", methods=["GET", "POST"])
@requires(Role.ADMIN)
def rollback() -> Any:
    source = request.args if request.method == "GET" else request.form
    target, jobs = _target(source)
    back = url_for("runs.job", job_id=jobs[0]) if "job" in target else url_for("runs.index")
    try:
        if request.method == "GET":
            plan = revisions.rollback(jobs, by=g.user.name, dry_run=True)
            return render_template("rollback.html", plan=plan, target=target, back=back)
        log.info("web rollback user=%s jobs=%s", g.user.name, jobs)
        plan = revisions.rollback(jobs, by=g.user.name)
    except SeobatchError as exc:
        flash(str(exc), "error")
        return redirect(back)
    flash(f"rolled back {plan.pages} page{'s' if plan.pages != 1 else ''} of job"
          f"{'s' if len(jobs) != 1 else ''} {', '.join(map(str, jobs))} (by {g.user.name})", "ok")
    return redirect(back)
