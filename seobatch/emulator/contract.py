"""What the server asks of a provider API module (``anthropic_api``, ``gemini_api``, …).

``server.Router`` and ``server._Handler`` use nothing of an API module but what
``ProviderAPI`` lists, so a new provider is one module with these names plus one line in
``Router``; the module itself is the implementation (no class to instantiate):

- ``NAME``: the provider's name in ``stats()`` and in ``http_errors``/``delay``/``hang``
  keys (``"anthropic.create"``);
- ``ROUTES``: ``(method, path regex, operation, handler)``; the regex's named groups become
  ``req.params``; the operation is the name counted and faulted, or a function of the
  request that picks it;
- ``error(emu, req, status, message, *, retry_after, spend_limit)``: an error reply in the
  provider's shape (``message=None``: the provider's usual words for ``status``);
- ``authorize(emu, req)``: None, or the provider's reply to a missing or wrong key;
- ``decorate(req, resp)``: headers every reply of the provider carries (request ids …);
- ``too_large(emu, req, size)``: the reply to a body past the handler's limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .wire import Request, Response

if TYPE_CHECKING:
    from .app import Emulator

#: A route's handler: the request in, the reply out (the gates have run).
Handler = Callable[["Emulator", Request], Response]
#: An operation name, or a function naming it from the request (Gemini's upload start vs chunk).
Operation = str | Callable[[Request], str]
#: ``(HTTP method, path regex, operation, handler)``.
Route = tuple[str, str, Operation, Handler]


class ProviderAPI(Protocol):
    """A provider API module, as ``server`` uses it (see the module docstring)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802 - a module constant

    @property
    def ROUTES(self) -> Sequence[Route]: ...  # noqa: N802 - a module constant

    def error(self, emu: Emulator, req: Request, status: int, message: str | None, *,
              retry_after: float | None = None, spend_limit: bool = False) -> Response: ...

    def authorize(self, emu: Emulator, req: Request) -> Response | None: ...

    def decorate(self, req: Request, resp: Response) -> Response: ...

    def too_large(self, emu: Emulator, req: Request, size: int) -> Response: ...
