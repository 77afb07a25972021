"""The preview tool: any title and description as a result, cut where Google would cut it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ...users import Role
from ..auth import requires
from ..preview import preview

bp = Blueprint("preview", __name__)

#: Longer input is cut before measuring (a result never shows more).
MAX_CHARS = 2000


@bp.get("/preview")
@requires(Role.VIEWER)
def tool() -> str:
    url = (request.args.get("url") or "https://www.example.com/page")[:MAX_CHARS]
    title = (request.args.get("title") or "")[:MAX_CHARS]
    description = (request.args.get("description") or "")[:MAX_CHARS]
    width_fn = current_app.extensions["seobatch.width_fn"]
    shown = preview(url, title, description, width_fn) if title or description else []
    return render_template("preview.html", url=url, title=title, description=description, previews=shown)
