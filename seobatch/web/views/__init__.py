"""The pages, one module per area: ``runs`` (runs, the nightly chart, one job, cancel),
``preview`` (the search-result preview tool), ``review`` (the review queue), ``rollback``
(a job's or run's rollback) and ``audit`` (the checks overview)."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from ... import db
from . import audit, preview, review, rollback, runs


def register(app: Flask) -> None:
    app.register_blueprint(runs.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(rollback.bp)
    app.register_blueprint(audit.bp)

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("runs.index"))

    @app.get("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        """For the reverse proxy and the process manager: the database answers."""
        db.database.execute_sql("SELECT 1")
        return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
