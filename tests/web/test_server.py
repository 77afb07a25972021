"""The app behind waitress over a real socket: what reaches it of the proxy headers."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from flask import request

from seobatch.web.app import create_app
from seobatch.web.server import ServerThread

from tests.web.conftest import WEB_SECRET, web_settings
from tests.web.widths import half_em


@contextmanager
def serving(app, **kw) -> Iterator[str]:
    server = ServerThread(app, threads=2, **kw).start()
    try:
        yield server.url
    finally:
        server.stop()


def _whoami(app):
    @app.get("/whoami")
    def whoami():
        return f"{request.remote_addr} {request.scheme}"

    return app


def _get(url: str) -> str:
    req = urllib.request.Request(url, headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.read().decode()


def test_forwarded_headers_are_dropped_unless_proxies_are_trusted(web_db):
    plain = _whoami(create_app(web_settings(web_db), secret_key=WEB_SECRET, width_fn=half_em))
    with serving(plain) as base:
        assert _get(f"{base}/whoami") == "127.0.0.1 http"  # a client cannot claim another address
    trusted = _whoami(create_app(web_settings(web_db, web_proxies=1), secret_key=WEB_SECRET, width_fn=half_em))
    with serving(trusted, behind_proxy=True) as base:
        assert _get(f"{base}/whoami") == "203.0.113.7 https"
