"""The emulator's HTTP plumbing: routing, fault gates, streaming replies (``app.Emulator`` runs it).

One ``ThreadingHTTPServer`` serves the three provider APIs on the same root (their paths
do not overlap: ``/v1/messages…`` Anthropic, ``/v1/files…`` and ``/v1/batches…`` OpenAI,
the rest Gemini) plus a small control API under ``/_emulator/``. Every provider call goes
through the same gates, in order: count it, delay, hang, authorise, scripted error, and
only then the handler. Open connections are tracked so ``stop()`` really closes them
(a pooled keep-alive connection must not keep talking to a stopped emulator).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import parse_qs, unquote, urlsplit

from . import anthropic_api, gemini_api, gemini_files, openai_api, openai_files
from .contract import Handler, Operation, ProviderAPI
from .wire import BadBody, BadFraming, Body, BodyTooLarge, Request, Response

if TYPE_CHECKING:
    from .app import Emulator

log = logging.getLogger("seobatch.emulator")


class Router:
    """(method, path regex) → (api module, operation, handler, path params).

    Gemini's ``v1`` API also has ``/v1/files…`` and ``/v1/batches…``: those paths are
    OpenAI's unless the call carries Gemini's key (``x-goog-api-key`` or ``?key=``).
    """

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], ProviderAPI, Operation, Handler]] = []
        for api, routes in ((openai_api, openai_files.ROUTES), (openai_api, openai_api.ROUTES),
                            (anthropic_api, anthropic_api.ROUTES), (gemini_api, gemini_api.ROUTES),
                            (gemini_api, gemini_files.ROUTES)):
            for method, pattern, op, func in routes:
                self.routes.append((method, re.compile(pattern), api, op, func))

    def match(
        self, method: str, path: str, *, gemini_key: bool = False
    ) -> tuple[ProviderAPI, Operation, Handler, dict[str, str]] | None:
        for m, pattern, api, op, func in self.routes:
            if gemini_key and api is openai_api:
                continue
            if m == method and (found := pattern.fullmatch(path)):
                return api, op, func, found.groupdict()
        return None

    @staticmethod
    def api_for_path(path: str, *, gemini_key: bool = False) -> ProviderAPI:
        if path.startswith("/v1/messages"):
            return anthropic_api
        if path.startswith(("/v1/files", "/v1/batches")) and not gemini_key:
            return openai_api
        return gemini_api


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "seobatch-emulator"
    timeout = 300  # an idle keep-alive connection is closed after this long

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    # -- dispatch -------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        emu = cast(Server, self.server).emulator
        split = urlsplit(self.path)
        host = self.headers.get("Host")
        req = Request(
            method=method, path=unquote(split.path), query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers, body=Body(cast(BinaryIO, self.rfile), self.headers),
            base_url=f"http://{host}" if host else emu.url,
        )
        gemini_key = bool(req.header("x-goog-api-key")) or "key" in req.query
        api: ProviderAPI = Router.api_for_path(req.path, gemini_key=gemini_key)
        try:
            if req.path.startswith("/_emulator/"):
                resp = _control(emu, req)
            else:
                match = emu.router.match(method, req.path, gemini_key=gemini_key)
                if match is None:
                    emu.store.count("", "unknown_routes")
                    resp = api.error(emu, req, 404, f"{method} {req.path} is not a route of this API")
                else:
                    api, op, func, req.params = match
                    req.provider = api.NAME
                    req.op = op(req) if callable(op) else op
                    resp = self._gated(emu, api, func, req)
        except BodyTooLarge as exc:
            resp = api.too_large(emu, req, int(exc.args[0]))
        except BadBody as exc:
            resp = api.error(emu, req, 400, str(exc))
        except BadFraming:
            self.close_connection = True
            return
        except Exception:  # a bug in the emulator: answer like the API's 500, keep serving
            log.exception("emulator handler failed for %s %s", method, req.path)
            resp = api.error(emu, req, 500, "Internal server error")
        if resp.drop:
            self.close_connection = True
            return
        if not req.body.done:
            try:
                req.body.drain()
            except (BadFraming, OSError):
                resp.close = True
        if req.provider or not req.path.startswith("/_emulator/"):
            resp = api.decorate(req, resp)
        self._send(resp)

    def _gated(self, emu: Emulator, api: ProviderAPI, func: Handler, req: Request) -> Response:
        store = emu.store
        store.count(req.provider, req.op)
        if req.provider == "gemini" and "key" in req.query:
            store.count("", "key_in_query")
        faults = store.faults
        delay = faults.delay_for(req.provider, req.op)
        if delay > 0 and emu.stopping.wait(delay):
            return Response(drop=True)
        if faults.hangs(req.provider, req.op):
            return _hang(emu)
        refused = api.authorize(emu, req)
        if refused is not None:
            return refused
        scripted = store.take_scripted(req.provider, req.op)
        if scripted is not None:
            if scripted.action == "hang":
                return _hang(emu)
            req.body.drain()
            if scripted.action == "drop":
                store.count_fault("dropped")
                return Response(drop=True)
            store.count_fault("http_errors")
            retry = scripted.retry_after if scripted.retry_after is not None else faults.retry_after
            return api.error(emu, req, scripted.status, None, retry_after=retry, spend_limit=scripted.spend_limit)
        resp = func(emu, req)
        if req.op == "create" and resp.status == 200 and store.take_one_shot("drop_create_response"):
            store.count_fault("dropped")  # the batch exists; the client never hears of it
            return Response(drop=True)
        return resp

    # -- output ---------------------------------------------------------------------------
    def _send(self, resp: Response) -> None:
        close = resp.close or resp.incomplete
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers:
            self.send_header(name, value)
        body = resp.body
        if isinstance(body, (bytes, bytearray)):
            self.send_header("Content-Length", str(len(body)))
        elif resp.length is not None:
            self.send_header("Content-Length", str(resp.length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            if isinstance(body, (bytes, bytearray)):
                self.wfile.write(body)
            elif resp.length is not None:
                for piece in body:
                    self.wfile.write(piece)
            else:
                for piece in body:
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if not resp.incomplete:
                    self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _hang(emu: Emulator) -> Response:
    """Answer nothing until the emulator stops or its faults change, then drop the connection."""
    store = emu.store
    store.count_fault("hangs")
    generation = store.fault_generation
    while not emu.stopping.wait(0.05):
        if store.fault_generation != generation and not store.faults.hang:
            break  # faults changed: let go (the client has long given up)
    return Response(drop=True)


def _control(emu: Emulator, req: Request) -> Response:
    """``/_emulator/stats|faults|reset|advance``: the test and operator control API."""
    name = req.path.removeprefix("/_emulator/")
    try:
        if name == "stats" and req.method == "GET":
            return Response.json(emu.stats())
        if name == "faults" and req.method == "GET":
            return Response.json(emu.store.faults.as_dict())
        if name == "faults" and req.method == "POST":
            changes = req.json(1 << 20, empty={})
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of fault names and values")
            return Response.json(emu.set_faults(**changes).as_dict())
        if name == "reset" and req.method == "POST":
            emu.reset()
            return Response.json({"reset": True})
        if name == "advance" and req.method == "POST":
            emu.advance(float(req.json(1 << 20).get("seconds", 0)))
            return Response.json({"advanced": True})
    except (ValueError, TypeError, AttributeError, BadBody) as exc:
        return Response.json({"error": str(exc)}, status=400)
    return Response.json({"error": f"no control endpoint {req.method} {req.path}"}, status=404)


class Server(ThreadingHTTPServer):
    """The socket server: one thread per connection, every open connection tracked."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
