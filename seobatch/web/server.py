"""Serving the app: waitress, a pure-Python production WSGI server (one process, threads).

One process matters: the sign-in rate limit lives in its memory. Threads suit the work
(each request waits on the database, not the CPU), and waitress buffers slow clients
itself, so it can face a reverse proxy or, on a private network, the browsers directly.
"""

from __future__ import annotations

from typing import Any

from waitress.server import create_server

THREADS = 8


def make_server(app: Any, host: str, port: int, *, threads: int = THREADS, behind_proxy: bool = False) -> Any:
    """A bound waitress server (``port`` 0: any free one; ``.effective_port`` says which).

    ``behind_proxy``: pass ``X-Forwarded-*`` on to the app, whose ProxyFix trusts the last
    ``SEOBATCH_WEB_PROXIES`` hops of them; otherwise waitress drops them at the door.
    """
    return create_server(app, host=host, port=port, threads=threads, ident="seobatch",
                         clear_untrusted_proxy_headers=not behind_proxy)


def stop(server: Any) -> None:
    """Stop a server whose ``run()`` loop is in another thread (tests, the demo)."""
    server.task_dispatcher.shutdown()
    from waitress import wasyncore  # waitress internals, only needed to stop a thread's loop

    wasyncore.close_all(server._map)
