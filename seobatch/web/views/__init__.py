"""The pages, one module per area: ``runs`` (runs, the nightly chart, one job, cancel) and
``preview`` (the search-result preview tool). The review queue, audit and rollback of
issue 14 come as ``review``, ``audit`` and ``rollback`` modules registered here."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from ... import db
from . import preview, runs


def register(app: Flask) -> None:
    app.register_blueprint(runs.bp)
    app.register_blueprint(preview.bp)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("runs.index"))

    @app.get("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        """For the reverse proxy and the process manager: the database answers."""
        db.database.execute_sql("SELECT 1")
        return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
