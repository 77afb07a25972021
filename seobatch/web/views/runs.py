"""Runs: recent jobs (keyset pages), the nightly chart, one job in full, cancel (admins)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from ... import jobmeta as jm
from ... import reports
from ...errors import SeobatchError
from ...jobmeta import ACTIVE_STATUSES
from ...models import SeoBatchJob
from ...stages.cancel import cancel
from ...users import Role
from .. import queries
from ..auth import requires
from ..chart import nightly_chart
from ..preview import preview

log = logging.getLogger("seobatch.web")

bp = Blueprint("runs", __name__)


def _settings() -> Any:
    return current_app.extensions["seobatch.settings"]


@bp.get("/runs")
@requires(Role.VIEWER)
def index() -> str:
    before = request.args.get("before", type=int)
    page = queries.jobs_page(before=before, settings=_settings())
    nights = queries.nightly(settings=_settings())
    return render_template(
        "runs.html", page=page, runs=queries.runs_of(page.rows), before=before,
        chart=nightly_chart(nights), nights=nights, summary=reports.active_summary(),
    )


@bp.get("/jobs/<int:job_id>")
@requires(Role.VIEWER)
def job(job_id: int) -> str:
    detail = reports.job_detail(job_id, settings=_settings())
    if detail is None:
        abort(404)
    after = request.args.get("after", type=int)
    results = queries.job_results(job_id, after=after)
    width_fn = current_app.extensions["seobatch.width_fn"]
    previews = {r["item_id"]: preview(r["url"], r["title"], r["description"], width_fn)
                for r in results.rows}
    return render_template("job.html", d=detail, results=results, previews=previews, after=after,
                           cancelable=detail["status"] in ACTIVE_STATUSES, highlights=jm.HIGHLIGHTS,
                           item_statuses=(*jm.ITEM_OUTCOMES, jm.ItemStatus.FAILED, jm.ItemStatus.PENDING))


@bp.route("/jobs/<int:job_id>/cancel", methods=["GET", "POST"])
@requires(Role.ADMIN)
def cancel_job(job_id: int) -> Any:
    """GET: a confirmation page (no JavaScript); POST: ``seobatch cancel ID`` as this user."""
    job = SeoBatchJob.get_or_none(SeoBatchJob.id == job_id)
    if job is None:
        abort(404)
    if request.method == "GET":
        if job.status not in ACTIVE_STATUSES:
            flash(f"job {job_id} is already {job.status}; there is nothing to cancel", "error")
            return redirect(url_for("runs.job", job_id=job_id))
        return render_template("cancel.html", job=job, pages=job.total_pages or
                               int((job.metadata or {}).get(jm.COLLECTED) or 0))
    log.info("web cancel_job user=%s job_id=%s status=%s", g.user.name, job_id, job.status)
    try:
        done = cancel(job_id, settings=_settings(), by=f"{g.user.name} (web)")
    except SeobatchError as exc:
        flash(str(exc), "error")
        return redirect(url_for("runs.job", job_id=job_id))
    send_steps = current_app.extensions["seobatch.send_steps"]
    if done.steps and send_steps is not None:
        send_steps(done.steps)
    flash(done.message, "ok")
    return redirect(url_for("runs.job", job_id=job_id))
