"""The one error tree of seobatch.

    SeobatchError
    ├── ConfigError          bad settings, unknown model, missing key (also ValueError)
    ├── ValidationError      a record breaks the model's contract (also ValueError)
    ├── InputError           a bad row in an import file, with file/line/field
    ├── InvalidOutput        a model reply is not a usable SEO object (``reason``)
    ├── AlreadyRunning       a kickoff while a run of the same model is still collecting
    └── ProviderError        a provider API answered (or failed to answer): status, request id
        ├── TransientError   worth retrying: 429, 5xx, 529, timeouts, dropped connections
        │   └── AmbiguousCreate  the provider may have accepted a batch: reconcile, never resend
        └── PermanentError   retrying cannot help: 4xx, spend limit, unknown batch
            └── ResultsUnavailable   the provider no longer serves a batch's results

Provider errors keep the provider's message, HTTP status and request id, never a key
or a URL query: their text ends up in logs, job metadata and Dramatiq's stored tracebacks.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound="ProviderError")


class SeobatchError(Exception):
    """Base class for every error seobatch raises; ``message`` is its whole text."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(SeobatchError, ValueError):
    """Raised when a setting, a model name or a credential is wrong or missing."""


class ValidationError(SeobatchError, ValueError):
    """Raised when a record breaks the model's contract (status, model, custom_id)."""


class InputError(SeobatchError, ValueError):
    """Raised for a bad row of an input file; names the file, line and field."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, field: str = "") -> None:
        where = ":".join(str(p) for p in (file, line or "") if p)
        text = f"{where}: {message}" if where else message
        if field:
            text = f"{text} (field {field!r})"
        super().__init__(text)
        self.file = file
        self.line = line
        self.field = field


class InvalidOutput(SeobatchError):
    """Raised when a model reply is not a usable SEO object; ``reason`` says why.

    ``reason`` (also the error's text) starts with ``invalid_output:``: it is what the
    item's error column and the page's ``seo_last_error`` show.
    """

    def __init__(self, detail: str) -> None:
        self.reason = f"invalid_output: {detail}"
        super().__init__(self.reason)


class AlreadyRunning(SeobatchError):
    """Raised when a kickoff finds a run of the same model still collecting."""


class ProviderError(SeobatchError):
    """Base class for errors a provider API answered (or failed to answer).

    The text is ``"<provider> <status> <error type>: <message> (request-id …)"`` with the
    parts the answer had.
    """

    #: "anthropic" | "gemini" | … ("" for a call that names none).
    provider: str
    #: The HTTP status, when the provider answered one.
    status: int | None
    #: The provider's request id (support tickets quote it).
    request_id: str | None
    #: The provider's error type (``rate_limit_error``, ``RESOURCE_EXHAUSTED``…).
    error_type: str | None
    #: Seconds the provider asked us to wait before trying again.
    retry_after: float | None
    #: False when the provider said not to retry (Anthropic's ``x-should-retry: false``).
    should_retry: bool

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        should_retry: bool = True,
    ) -> None:
        parts = [p for p in (provider, str(status) if status else "", error_type or "") if p]
        prefix = " ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if request_id:
            text = f"{text} (request-id {request_id})"
        super().__init__(text)
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.error_type = error_type
        self.retry_after = retry_after
        self.should_retry = should_retry

    def as_(self, cls: type[E], message: str) -> E:
        """The same answer (provider, status, request id, error type) as a ``cls`` saying
        ``message``. The retry hints are not carried over: they were about this call, and
        ``cls`` decides anew whether a retry can help."""
        return cls(
            message,
            provider=self.provider,
            status=self.status,
            request_id=self.request_id,
            error_type=self.error_type,
        )


class TransientError(ProviderError):
    """Raised when a call failed in a way that a later retry may fix."""


class AmbiguousCreate(TransientError):
    """Raised when a batch create may or may not have been accepted (timeout, reset)."""


class PermanentError(ProviderError):
    """Raised when a call failed in a way that no retry can fix."""


class ResultsUnavailable(PermanentError):
    """Raised when a batch's results are expired, archived or otherwise gone."""


__all__ = [
    "AlreadyRunning",
    "AmbiguousCreate",
    "ConfigError",
    "InputError",
    "InvalidOutput",
    "PermanentError",
    "ProviderError",
    "ResultsUnavailable",
    "SeobatchError",
    "TransientError",
    "ValidationError",
]
