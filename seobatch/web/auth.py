"""Users, sign-in and roles.

- Passwords are hashed with werkzeug's scrypt (salted; pbkdf2 hashes verify too) and
  checked in constant time; an unknown name costs the same hash check as a known one.
- The session (Flask's signed cookie) holds the user id and a fingerprint of the password
  hash, so changing a password (``seobatch web adduser NAME --update``) signs every old
  session out. Sessions last ``SESSION_HOURS``.
- Failed sign-ins are rate-limited per (name, client IP) and per client IP (``LoginLimiter``);
  past the limit the form answers 429 until the window has passed, even for the right
  password, so guessing gains nothing by going on.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, url_for
from flask import session as cookie  # named so: R8's timeout scan takes any "session" for HTTP
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ValidationError
from ..users import ROLES, Role, WebUser, role_allows
from .security import rotate_csrf

log = logging.getLogger("seobatch.web")

SESSION_HOURS = 12
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
PASSWORD_METHOD = "scrypt"
#: Failed sign-ins allowed per (name, IP) and per IP within ``LOGIN_WINDOW_SECONDS``.
LOGIN_FAILURES_PER_NAME = 5
LOGIN_FAILURES_PER_IP = 30
LOGIN_WINDOW_SECONDS = 900

_SESSION_KEY = "auth"
#: Checked when the name is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash("not a password of anyone", method=PASSWORD_METHOD)

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)


# -- users ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValidationError(
            f"the password must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters, "
            f"got {len(password)}"
        )
    return generate_password_hash(password, method=PASSWORD_METHOD)


def add_user(name: str, password: str, role: str, *, update: bool = False) -> tuple[WebUser, bool]:
    """Create user ``name`` (or, with ``update``, set its password and role). Returns (user, created)."""
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is not one of {', '.join(ROLES)}")
    existing = WebUser.get_or_none(WebUser.name == name)
    if existing is not None and not update:
        raise ValidationError(f"user {name!r} exists already; add --update to set its password and role")
    user = existing or WebUser(name=name)
    user.role = role
    user.password_hash = hash_password(password)
    user.save()
    return user, existing is None


def authenticate(name: str, password: str) -> WebUser | None:
    user = WebUser.get_or_none(WebUser.name == name) if name else None
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    return user if user is not None and ok else None


def _fingerprint(user: WebUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def load_user() -> None:
    """``g.user``: the signed-in user of this request, or None."""
    g.user = None
    if request.endpoint == "static":
        return
    value = cookie.get(_SESSION_KEY)
    if not (isinstance(value, list) and len(value) == 2):
        return
    user = WebUser.get_or_none(WebUser.id == value[0])
    if user is not None and value[1] == _fingerprint(user):
        g.user = user


def requires(role: str) -> Callable[[F], F]:
    """The view needs a signed-in user with ``role`` (or above): else 401/redirect, or 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.user is None:
                if request.method == "GET":
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                abort(401)
            if not role_allows(g.user.role, role):
                log.warning("web forbidden user=%s role=%s needs=%s path=%s",
                            g.user.name, g.user.role, role, request.path)
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def can(role: str) -> bool:
    """For templates: may the signed-in user do what ``role`` may?"""
    return g.get("user") is not None and role_allows(g.user.role, role)


# -- the rate limit ------------------------------------------------------------------------


class LoginLimiter:
    """Failed sign-ins per key in a sliding window, in this process's memory.

    ``seobatch web`` serves from one process (waitress's threads), so one limiter sees
    every attempt; a restart forgets them. At most ``max_keys`` keys are kept (the
    oldest go first) so a flood of made-up names cannot grow it without bound.
    """

    def __init__(self, *, per_name: int = LOGIN_FAILURES_PER_NAME, per_ip: int = LOGIN_FAILURES_PER_IP,
                 window: float = LOGIN_WINDOW_SECONDS, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_name, self.per_ip, self.window = per_name, per_ip, window
        self.max_keys, self.clock = max_keys, clock
        self._failures: OrderedDict[tuple[str, ...], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, ...], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, name: str, ip: str) -> int:
        """Seconds until (name, ip) may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in (((name.lower(), ip), self.per_name), ((ip,), self.per_ip)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[-limit] + self.window - now)
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, name: str, ip: str) -> None:
        now = self.clock()
        with self._lock:
            for key in ((name.lower(), ip), (ip,)):
                self._failures.setdefault(key, []).append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, name: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((name.lower(), ip), None)


# -- views ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//evil``) may follow sign-in."""
    if not target:
        return url_for("runs.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("runs.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(next_url)
        return render_template("login.html", next_url=next_url, error=None)
    name = (request.form.get("name") or "").strip()[:64]
    password = request.form.get("password") or ""
    ip = request.remote_addr or "?"
    limiter: LoginLimiter = current_app.extensions["seobatch.login_limiter"]
    wait = limiter.retry_after(name, ip)
    if wait:
        log.warning("web login_limited user=%s ip=%s retry_after=%s", name, ip, wait)
        return render_template("login.html", next_url=next_url,
                               error=f"Too many failed sign-ins. Try again in {wait} seconds."), \
            429, {"Retry-After": str(wait)}
    user = authenticate(name, password[:MAX_PASSWORD_CHARS])
    if user is None:
        limiter.failed(name, ip)
        log.warning("web login_failed user=%s ip=%s", name, ip)
        return render_template("login.html", next_url=next_url, error="Wrong name or password."), 401
    limiter.succeeded(name, ip)
    cookie.clear()  # nothing from before sign-in carries over (session fixation)
    cookie[_SESSION_KEY] = [user.id, _fingerprint(user)]
    cookie.permanent = True
    rotate_csrf()
    log.info("web login user=%s role=%s ip=%s", user.name, user.role, ip)
    return redirect(next_url)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    if g.user is not None:
        log.info("web logout user=%s", g.user.name)
    cookie.clear()
    rotate_csrf()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    app.permanent_session_lifetime = timedelta(hours=SESSION_HOURS)
    app.extensions["seobatch.login_limiter"] = LoginLimiter()
    app.before_request(load_user)
    app.jinja_env.globals.update(can=can, Role=Role)
    app.register_blueprint(bp)

