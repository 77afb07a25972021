"""``create_app``: the Flask application of ``seobatch web``.

The app reads the database the pipeline writes (``DATABASE_URL``, bound by the caller
through ``seobatch.db.configure``): one connection per request, opened before it and
closed after it, on whichever server thread serves it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import db
from ..config import Settings
from ..quality.widths import text_width_px
from ..stages import Step
from ..term import format_duration, format_int, format_usd, humanize_seconds
from . import auth, security, views
from .audit_cache import AuditCache
from .preview import WidthFn

#: Request bodies above this are refused (413) before a view reads them.
MAX_BODY_BYTES = 1 << 20


def create_app(
    settings: Settings,
    *,
    secret_key: str,
    width_fn: WidthFn = text_width_px,
    send_steps: Callable[[list[Step]], None] | None = None,
) -> Flask:
    """The web app over the database ``seobatch.db`` is bound to.

    Parameters:
        secret_key: signs the session cookie (``SEOBATCH_WEB_SECRET``; at least 32 characters).
        width_fn: measures text for the result previews, ``(text, size_px) -> px``;
            by default the quality gate's table (``quality.widths.text_width_px``).
        send_steps: enqueues the pipeline steps an action returns (a cancel's poll);
            the CLI passes its queue's ``send`` (``cli/_queue.py``) when ``REDIS_URL`` is set.
    """
    if len(secret_key) < 32:
        raise ValueError("the web secret must be at least 32 characters")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="__Host-seobatch" if settings.web_https else "seobatch_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_https,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        PROPAGATE_EXCEPTIONS=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    if settings.web_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web_proxies,  # type: ignore[method-assign]
                                x_proto=settings.web_proxies, x_host=settings.web_proxies)
    app.extensions["seobatch.settings"] = settings
    app.extensions["seobatch.width_fn"] = width_fn
    app.extensions["seobatch.send_steps"] = send_steps
    app.extensions["seobatch.audit_cache"] = AuditCache(secrets=tuple(settings.secrets()) + (secret_key,))
    app.jinja_env.filters.update(usd=format_usd, duration=format_duration, ago=humanize_seconds,
                                 int=format_int, when=_when)

    @app.before_request
    def _connect() -> None:
        db.database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        if not db.database.is_closed():
            if db.database.in_transaction():
                db.database.rollback()
            db.database.close()

    security.init_app(app, https=settings.web_https)
    auth.init_app(app)
    views.register(app)
    return app


def _when(value: str | None) -> str:
    return "-" if value is None else value.replace("T", " ").replace("Z", " UTC")
