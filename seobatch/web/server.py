"""Serving the app: waitress, a pure-Python production WSGI server (one process, threads).

One process matters: the sign-in rate limit lives in its memory. Threads suit the work
(each request waits on the database, not the CPU), and waitress buffers slow clients
itself, so it can face a reverse proxy or, on a private network, the browsers directly.
"""

from __future__ import annotations

import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

THREADS = 8


def make_server(app: Any, host: str, port: int, *, threads: int = THREADS, behind_proxy: bool = False) -> Any:
    """A bound waitress server (``port`` 0: any free one; ``.effective_port`` says which).

    ``behind_proxy``: pass ``X-Forwarded-*`` on to the app, whose ProxyFix trusts the last
    ``SEOBATCH_WEB_PROXIES`` hops of them; otherwise waitress drops them at the door.
    """
    return create_server(app, host=host, port=port, threads=threads, ident="seobatch",
                         clear_untrusted_proxy_headers=not behind_proxy)


class ServerThread:
    """A server run in a thread of this process, stopped cleanly (tests, the demo).

    The loop runs in short rounds and the server closes its own sockets in its own
    thread: closing them from another thread while it waits in ``select`` breaks it.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> None:
        self.server = make_server(app, host, port, **kw)
        self.url = f"http://{host}:{self.server.effective_port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seobatch-web", daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.1, map=self.server._map, count=1)
        finally:
            self.server.task_dispatcher.shutdown()
            wasyncore.close_all(self.server._map)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
