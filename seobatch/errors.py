"""The one error tree of seobatch.

    SeobatchError
    ├── ConfigError          bad settings, unknown model, missing key (also ValueError)
    ├── ValidationError      a record breaks the model's contract (also ValueError)
    ├── InputError           a bad row in an import file, with file/line/field
    ├── AlreadyRunning       a kickoff while a run of the same model is still collecting
    ├── TransientError       worth retrying: 429, 5xx, 529, timeouts, dropped connections
    │   └── AmbiguousCreate  the provider may have accepted a batch: reconcile, never resend
    └── PermanentError       retrying cannot help: 4xx, spend limit, unknown batch
        └── ResultsUnavailable   the provider no longer serves a batch's results

Provider errors keep the provider's message, HTTP status and request id, never a key
or a URL query: their text ends up in logs, job metadata and Dramatiq's stored tracebacks.
"""

from __future__ import annotations


class SeobatchError(Exception):
    """Base class for every error seobatch raises."""

    def __init__(self, message: str = "", **context: object) -> None:
        super().__init__(message)
        self.message = message
        for key, value in context.items():
            setattr(self, key, value)

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
        super().__init__(text, file=file, line=line, field=field)


class AlreadyRunning(SeobatchError):
    """Raised when a kickoff finds a run of the same model still collecting."""


class ProviderError(SeobatchError):
    """Base class for errors a provider API answered (or failed to answer)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        parts = [p for p in (provider, str(status) if status else "", error_type or "") if p]
        prefix = " ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if request_id:
            text = f"{text} (request-id {request_id})"
        super().__init__(
            text,
            provider=provider,
            status=status,
            request_id=request_id,
            error_type=error_type,
            retry_after=retry_after,
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
    "PermanentError",
    "ProviderError",
    "ResultsUnavailable",
    "SeobatchError",
    "TransientError",
    "ValidationError",
]
