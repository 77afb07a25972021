"""What can go wrong on purpose: the emulator's fault configuration.

A ``Faults`` value is immutable; the emulator swaps in a new one on every change (and
consumes one-shot entries such as scripted HTTP errors by replacing the value under its
lock). Item shares and the batch outcome are snapshotted when a batch is created, so
changing faults later never rewrites a batch that already exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .replies import BAD_KINDS

#: Operations of each provider, as counted in ``Emulator.stats()`` and named in
#: ``http_errors`` / ``delay`` / ``hang`` (optionally prefixed ``anthropic.``, ``gemini.`` or
#: ``openai.``).
ANTHROPIC_OPS = ("create", "get", "list", "cancel", "delete", "results")
GEMINI_OPS = (
    "create", "get", "list", "cancel", "delete",
    "upload_start", "upload", "file_get", "file_list", "file_delete", "download",
)
OPENAI_OPS = (
    "create", "get", "list", "cancel",
    "upload", "file_get", "file_list", "file_delete", "download",
)
BATCH_OUTCOMES = ("expire", "cancel", "fail", "stuck")
#: Scripted entries that are not HTTP statuses.
SPECIAL_ENTRIES = ("hang", "drop", "spend_limit")


@dataclass(frozen=True)
class ScriptedError:
    """One scripted reply: an HTTP status (with retry hint), or ``hang`` / ``drop``."""

    status: int = 0
    action: str = "status"  # "status" | "hang" | "drop"
    retry_after: float | None = None  # seconds; None = use Faults.retry_after
    spend_limit: bool = False  # Anthropic 429 for a spend cap: no retry-after

    @classmethod
    def parse(cls, entry: Any) -> ScriptedError:
        if isinstance(entry, ScriptedError):
            return entry
        if isinstance(entry, bool):
            raise ValueError(f"http_errors entry {entry!r} is not a status")
        if isinstance(entry, int):
            return cls(status=_status(entry))
        if isinstance(entry, str):
            if entry in ("hang", "drop"):
                return cls(action=entry)
            if entry == "spend_limit":
                return cls(status=429, spend_limit=True)
            if entry.isdigit():
                return cls(status=_status(int(entry)))
            raise ValueError(f"http_errors entry {entry!r}: use a status, 'hang', 'drop' or 'spend_limit'")
        if isinstance(entry, dict):
            unknown = set(entry) - {"status", "retry_after", "spend_limit", "action"}
            if unknown:
                raise ValueError(f"http_errors entry has unknown keys {sorted(unknown)}")
            action = entry.get("action", "status")
            if action not in ("status", "hang", "drop"):
                raise ValueError(f"http_errors action {action!r}")
            status = _status(int(entry["status"])) if action == "status" else 0
            ra = entry.get("retry_after")
            return cls(status=status, action=action, retry_after=None if ra is None else float(ra),
                       spend_limit=bool(entry.get("spend_limit", False)))
        raise ValueError(f"http_errors entry {entry!r} is not understood")


def _status(code: int) -> int:
    if not 400 <= code <= 599:
        raise ValueError(f"http_errors status {code} is not an HTTP error status")
    return code


def _op_key_ok(key: str) -> bool:
    provider, _, op = key.rpartition(".")
    if provider == "anthropic":
        return op in ANTHROPIC_OPS
    if provider == "gemini":
        return op in GEMINI_OPS
    if provider == "openai":
        return op in OPENAI_OPS
    return provider == "" and (op in ANTHROPIC_OPS or op in GEMINI_OPS or op in OPENAI_OPS or op == "*")


def _scripted(value: Any) -> dict[str, tuple[ScriptedError, ...]]:
    """``{"create": [429, "drop"]}`` (one entry may stand alone) as parsed entries."""
    return {
        str(op): tuple(ScriptedError.parse(e) for e in (entries if isinstance(entries, (list, tuple)) else [entries]))
        for op, entries in (value or {}).items()
    }


def _delay(value: Any) -> float | dict[str, float]:
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else float(value or 0)


def _hang(value: Any) -> bool | tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else bool(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Faults:
    """Fault injection for one emulator run. Every field defaults to "behave normally"."""

    #: Shares of items (0..1) that end errored / expired / with malformed output.
    error_rate: float = 0.0
    expire_rate: float = 0.0
    malformed_rate: float = 0.0
    #: Scripted replies per operation, consumed in order: ``{"create": [429, 529]}``;
    #: keys are ``op``, ``anthropic.op``, ``gemini.op``, ``openai.op`` or ``*`` (any provider operation).
    http_errors: dict[str, tuple[ScriptedError, ...]] = field(default_factory=dict)
    #: Retry hint on 429/503/529 replies, in seconds (``retry-after-ms``, ``retry-after``,
    #: Gemini ``RetryInfo.retryDelay``). None sends no hint.
    retry_after: float | None = 0.05
    #: Seconds to wait before answering: one number for every provider call, or per op.
    delay: float | dict[str, float] = 0.0
    #: Never answer (until the emulator stops): True for every provider call, or a list of ops.
    hang: bool | tuple[str, ...] = False
    #: How many creates succeed but get their connection closed with no reply.
    drop_create_response: int = 0
    results_out_of_order: bool = True
    #: How many results downloads are cut mid-line (connection closed mid-stream).
    truncate_results: int = 0
    #: How the next created batch ends: "expire", "cancel" or "fail" (then cleared);
    #: "stuck" never starts (Gemini stays PENDING) until it is canceled, with no result.
    batch_outcome: str | None = None
    #: Results of ended batches are gone (archived): results/download answer 404.
    results_gone: bool = False
    #: Replies follow instructions injected into the page text (for security tests).
    obey_injections: bool = False
    #: Well-formed but bad replies on cue: URL substring → kind (``replies.BAD_KINDS``:
    #: too_wide, wrong_language, invented_price, stuffing, placeholder, boilerplate,
    #: artefact, brand_doubled); ``"*"`` matches every page. First match wins.
    bad_replies: dict[str, str] = field(default_factory=dict)
    #: The OpenAI API behaves like a narrower "compatible" endpoint: create refuses
    #: ``metadata`` (400), and a request line with ``response_format`` fails validation.
    openai_no_metadata: bool = False
    openai_no_response_format: bool = False
    #: Gemini accepts a cancel and runs on regardless (a cancel that never lands, as
    #: Azure's "runs until canceled" jobs or a stuck Gemini cancel): for the settle cap.
    gemini_cancel_ignored: bool = False

    def __post_init__(self) -> None:
        for name in ("error_rate", "expire_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.error_rate + self.expire_rate + self.malformed_rate > 1.0 + 1e-9:
            raise ValueError("error_rate + expire_rate + malformed_rate must not exceed 1")
        if self.batch_outcome is not None and self.batch_outcome not in BATCH_OUTCOMES:
            raise ValueError(f"batch_outcome must be one of {BATCH_OUTCOMES}, not {self.batch_outcome!r}")
        for key, kind in self.bad_replies.items():
            if kind not in BAD_KINDS:
                raise ValueError(f"bad_replies[{key!r}]: {kind!r} is not one of {', '.join(BAD_KINDS)}")
        for key in self.http_errors:
            if not _op_key_ok(key):
                raise ValueError(f"http_errors: unknown operation {key!r}")
        ops = self.hang if isinstance(self.hang, tuple) else ()
        ops += tuple(self.delay) if isinstance(self.delay, dict) else ()
        for key in ops:
            if not _op_key_ok(key):
                raise ValueError(f"unknown operation {key!r}")

    @classmethod
    def build(cls, base: Faults | None = None, **changes: Any) -> Faults:
        """Validate and normalise loosely typed changes (JSON, CLI) on top of ``base``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        norm = {key: _COERCE[key](value) for key, value in changes.items()}
        return dataclasses.replace(base or cls(), **norm)

    def bad_reply_for(self, url: str) -> str | None:
        """The bad reply kind cued for ``url``, or None."""
        for key, kind in self.bad_replies.items():
            if key == "*" or key in url:
                return kind
        return None

    def delay_for(self, provider: str, op: str) -> float:
        if isinstance(self.delay, dict):
            return self.delay.get(f"{provider}.{op}", self.delay.get(op, self.delay.get("*", 0.0)))
        return self.delay

    def hangs(self, provider: str, op: str) -> bool:
        if isinstance(self.hang, tuple):
            return f"{provider}.{op}" in self.hang or op in self.hang or "*" in self.hang
        return self.hang

    def queue_key(self, provider: str, op: str) -> str | None:
        """The non-empty scripted queue that applies to this call, most specific first."""
        for key in (f"{provider}.{op}", op, "*"):
            if self.http_errors.get(key):
                return key
        return None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["http_errors"] = {
            op: [dataclasses.asdict(e) for e in entries] for op, entries in self.http_errors.items()
        }
        out["hang"] = list(self.hang) if isinstance(self.hang, tuple) else self.hang
        return out


#: How ``Faults.build`` turns a loosely typed value (JSON, CLI) into each field's type.
_COERCE: dict[str, Callable[[Any], Any]] = {
    "error_rate": float,
    "expire_rate": float,
    "malformed_rate": float,
    "http_errors": _scripted,
    "retry_after": _optional_float,
    "delay": _delay,
    "hang": _hang,
    "drop_create_response": int,  # True -> 1
    "results_out_of_order": bool,
    "truncate_results": int,
    "batch_outcome": lambda value: value or None,
    "results_gone": bool,
    "obey_injections": bool,
    "bad_replies": lambda value: {str(k): str(v) for k, v in dict(value or {}).items()},
    "openai_no_metadata": bool,
    "openai_no_response_format": bool,
    "gemini_cancel_ignored": bool,
}
