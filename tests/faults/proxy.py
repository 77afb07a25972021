"""A small fault proxy in front of the emulator: what HTTP servers cannot do on cue.

Each client connection carries one request (``Connection: close`` is forced both ways,
so clients never reuse a connection the proxy is about to drop). Requests whose path
matches ``drip`` get their response body sent one byte every ``drip_interval`` seconds —
the slow-drip that defeats per-read timeouts (a read timeout restarts with every byte).
``drip_times`` bounds how many responses are dripped; after that the proxy is a plain pipe.
"""

from __future__ import annotations

import re
import socket
import threading


class DripProxy:
    def __init__(self, upstream: str, *, drip: str | None = None, drip_interval: float = 0.1,
                 drip_times: int = 1) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.drip = re.compile(drip) if drip else None
        self.drip_interval = drip_interval
        self.drip_times = drip_times
        self.dripped = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, name="drip-proxy", daemon=True)

    def __enter__(self) -> DripProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _take_drip(self, path: str) -> bool:
        if self.drip is None or not self.drip.search(path):
            return False
        with self.lock:
            if self.dripped >= self.drip_times:
                return False
            self.dripped += 1
            return True

    def _handle(self, client: socket.socket) -> None:
        upstream = None
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            path = head.split(b" ", 2)[1].decode("latin-1")
            upstream = socket.create_connection(self.upstream, timeout=30)
            upstream.sendall(_force_close(head) + rest)
            pump = threading.Thread(target=_pipe, args=(client, upstream), daemon=True)
            pump.start()
            drip = self._take_drip(path)
            resp_head, body = _read_head(upstream)
            if resp_head is None:
                return
            client.sendall(_force_close(resp_head))
            if not drip:
                client.sendall(body)
                _pipe(upstream, client)
                return
            data = body
            while not self.stopping.is_set():
                while data:
                    client.sendall(data[:1])
                    data = data[1:]
                    if self.stopping.wait(self.drip_interval):
                        return
                data = upstream.recv(65536)
                if not data:
                    return
        except OSError:
            return
        finally:
            for s in (client, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


_CONNECTION = re.compile(rb"\r\nconnection:[^\r\n]*", re.IGNORECASE)


def _force_close(head: bytes) -> bytes:
    head = _CONNECTION.sub(b"", head[:-4])
    return head + b"\r\nConnection: close\r\n\r\n"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                return
            dst.sendall(data)
    except OSError:
        return
