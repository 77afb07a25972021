"""A scripted HTTP server on 127.0.0.1 for the cases the emulator cannot produce.

Each request pops the next scripted reply (status/headers/body, or a callable that writes
to the socket itself: drip, hang, truncate). Every request is recorded with its method,
path, query, headers and body, so a test can assert what the client sent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Writes the whole response itself (after the request was read); gets the handler.
    raw: Callable[[BaseHTTPRequestHandler], None] | None = None


class FakeServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default: Reply | None = None
        self.seen: list[Seen] = []
        self.stop_event = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                body = self._read_body()
                server.seen.append(Seen(self.command, parts.path, parts.query, dict(self.headers), body))
                reply = server.replies.popleft() if server.replies else server.default
                if reply is None:
                    reply = Reply(500, b'{"error": "no scripted reply"}')
                if reply.raw is not None:
                    reply.raw(self)
                    return
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None, **kw) -> None:
        self.replies.append(Reply(status, body, headers or {}, **kw))

    def close(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Sleeps(list):
    """An injectable ``sleep`` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def drip(status_line_headers: bytes, body: bytes, every: float, stop: threading.Event) -> Callable:
    """A raw reply that sends headers, then the body one byte every ``every`` seconds."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(status_line_headers)
            handler.wfile.flush()
            for b in body:
                if stop.wait(every):
                    return
                handler.wfile.write(bytes([b]))
                handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True

    return write


def hang(stop: threading.Event, seconds: float = 30.0) -> Callable:
    """A raw reply that never answers (until the server stops)."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        stop.wait(seconds)
        handler.close_connection = True

    return write


def truncated(status: int, headers: dict[str, str], body: bytes, claimed: int) -> Callable:
    """A raw reply that claims ``claimed`` bytes, sends ``body`` and closes the connection."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(claimed))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
        time.sleep(0.05)

    return write
