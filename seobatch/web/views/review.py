"""The review queue: proposed revisions, old next to new with their result previews, and
approve/reject of one, a selection, or everything a filter matches (reviewers, admins).

Listing is keyset-paginated on the revision id (``?after=ID``), through
``revisions.list_proposed``; every decision goes through ``revisions.approve``/``reject``
with ``by`` the signed-in user, so the web and ``seobatch review`` share one code path.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from ... import revisions
from ...errors import SeobatchError
from ...users import Role
from ..auth import requires
from ..preview import preview

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__)

#: Proposals on one page of the queue.
PAGE_SIZE = 50
#: A selection larger than this is refused (a filter decision covers more).
MAX_SELECTED = 1000
#: The confirmation of a filter-wide decision counts exactly up to this many.
CONFIRM_CAP = revisions.COUNT_CAP
_FILTER_ARGS = ("job", "check", "language", "host", "flagged")


def _filter_from(args: Any) -> revisions.Filter:
    """The queue's filter from query or form fields; a bad value is a 400 with its reason."""
    job = (args.get("job") or "").strip()
    flagged = (args.get("flagged") or "").strip()
    if job and not job.isdigit():
        abort(400, description=f"job must be a job id (a number), got {job[:40]!r}")
    if flagged not in ("", "yes", "no"):
        abort(400, description="flagged must be yes or no")
    try:
        return revisions.Filter(
            job=int(job) if job else None,
            check=(args.get("check") or "").strip() or None,
            language=(args.get("language") or "").strip()[:35] or None,
            host=(args.get("host") or "").strip() or None,
            flagged=None if not flagged else flagged == "yes",
        )
    except SeobatchError as exc:
        abort(400, description=str(exc))


def _filter_args(args: Any) -> dict[str, Any]:
    return {k: args[k] for k in _FILTER_ARGS if args.get(k)}


@bp.get("/review")
@requires(Role.VIEWER)
def queue() -> str:
    filter_ = _filter_from(request.args)
    after = request.args.get("after", "0")
    after_id = int(after) if after.isdigit() else 0
    rows = revisions.list_proposed(filter_, after_id=after_id, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    width_fn = current_app.extensions["seobatch.width_fn"]
    items = [{
        "p": p,
        "old": preview(p.url, p.old_title, p.old_description, width_fn),
        "new": preview(p.url, p.title, p.description, width_fn),
    } for p in rows]
    return render_template(
        "review.html", items=items, filters=_filter_args(request.args),
        next_after=rows[-1].id if more and rows else None, after=after_id,
    )


def _decide(verb: str, filter_: revisions.Filter) -> None:
    action = revisions.approve if verb == "approve" else revisions.reject
    log.info("web review user=%s verb=%s filter=%s", g.user.name, verb, filter_.describe())
    try:
        decision = action(filter_, by=g.user.name)
    except SeobatchError as exc:
        flash(str(exc), "error")
        return
    flash(decision.describe(), "ok")


def _verb() -> str:
    verb = request.form.get("verb", "")
    if verb not in ("approve", "reject"):
        abort(400, description="verb must be approve or reject")
    return verb


@bp.post("/review/decide")
@requires(Role.REVIEWER)
def decide() -> Any:
    """One revision (its row's button, ``one=VERB:ID``) or a selection (the checkboxes,
    ``ids`` with ``verb``): one POST either way."""
    one = request.form.get("one", "")
    if one:
        verb, _, rid = one.partition(":")
        if verb not in ("approve", "reject"):
            abort(400, description="verb must be approve or reject")
        raw = [rid]
    else:
        verb = _verb()
        raw = request.form.getlist("ids")
    if not raw or not all(v.isdigit() for v in raw):
        flash("select at least one revision", "error")
    elif len(raw) > MAX_SELECTED:
        abort(400, description=f"at most {MAX_SELECTED} revisions at once; decide by filter instead")
    else:
        _decide(verb, revisions.Filter(ids=tuple(sorted({int(v) for v in raw}))))
    return redirect(url_for("review.queue", **_filter_args(request.form)))


@bp.route("/review/all", methods=["GET", "POST"])
@requires(Role.REVIEWER)
def decide_all() -> Any:
    """GET: how many proposals the filter matches, to confirm (exact up to
    ``revisions.COUNT_CAP``, beyond it "more than" that with PostgreSQL's estimate, labelled
    so); POST: decide them all (the flash then says exactly how many)."""
    source = request.args if request.method == "GET" else request.form
    filter_ = _filter_from(source)
    verb = request.args.get("verb", "approve") if request.method == "GET" else _verb()
    if verb not in ("approve", "reject"):
        abort(400, description="verb must be approve or reject")
    if request.method == "GET":
        # Counted up to a cap: an exact COUNT over a million proposals took up to 1.9 s.
        return render_template("review_all.html", verb=verb, count=revisions.count_proposed_upto(filter_, CONFIRM_CAP),
                               described=filter_.describe(), filters=_filter_args(source))
    _decide(verb, filter_)
    return redirect(url_for("review.queue", **_filter_args(source)))
