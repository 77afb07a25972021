"""``Emulator``: the provider APIs on one local port, started, stopped and steered from Python.

``server`` holds the HTTP plumbing; this is the façade tests, the CLI and the demo use.
"""

from __future__ import annotations

import threading
from typing import Any

from .faults import Faults
from .server import Router, Server
from .state import Store

ANTHROPIC_MAX_BODY = 256 * 1024 * 1024  # the Batches API's 256 MB cap (a 413 from Cloudflare)
GEMINI_INLINE_LIMIT = 20 * 1024 * 1024  # "Request payload size exceeds the limit: 20971520 bytes."


class Emulator:
    """Both provider batch APIs on one local port. ``with Emulator() as emu: emu.url``.

    Parameters:
        processing_seconds: a batch ends this long after it was created.
        api_key: if set, only this key is accepted (others get the real error shape).
        faults: a ``Faults`` value (or dict) to start with; ``reset()`` returns to it.
        max_body_bytes: Anthropic create bodies above this get 413 (256 MB).
        inline_limit_bytes: Gemini inline create bodies above this get 400 (20 MiB).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, processing_seconds: float = 0.0, *,
        api_key: str | None = None, faults: Faults | dict[str, Any] | None = None,
        max_body_bytes: int = ANTHROPIC_MAX_BODY, inline_limit_bytes: int = GEMINI_INLINE_LIMIT,
    ) -> None:
        if isinstance(faults, dict):
            faults = Faults.build(**faults)
        self.host, self.port = host, port
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.inline_limit_bytes = inline_limit_bytes
        self.store = Store(processing_seconds, faults or Faults())
        self.router = Router()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        #: Set while stopping: releases handlers that hang or wait out a delay.
        self.stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"seobatch-emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # releases hanging and delayed handlers
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C (the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the SDKs and our clients at this emulator."""
        return {"ANTHROPIC_BASE_URL": self.url, "GOOGLE_GEMINI_BASE_URL": self.url}

    # -- control --------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    @property
    def faults(self) -> Faults:
        return self.store.faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change faults (unknown names raise ValueError); also ``processing_seconds=``."""
        return self.store.set_faults(**changes)

    def reset(self) -> None:
        """Forget batches, files and counts; faults back to what the emulator started with."""
        self.store.reset()

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (batches end sooner, as if time passed)."""
        self.store.advance(seconds)
