"""Logging set-up: one line per record, and no secret ever reaches a handler.

Two formats, chosen by ``SEOBATCH_LOG_FORMAT`` (or ``seobatch --log-format``):

``text`` (default)
    ``2025-01-01 03:00:00,123 INFO seobatch.jobs: job_transition job_id=7 from=… to=…``
``json``
    one JSON object per line: ``{"ts": "…Z", "level": "INFO", "logger": "seobatch.jobs",
    "msg": "job_transition job_id=7 …", "event": "job_transition", "job_id": 7, …}``.
    A message written as ``name key=value key=value …`` (every transition line is)
    also has its pairs as fields, so log pipelines need no regex.

Redaction runs before either formatter sees the record.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

#: Shapes of provider keys, redacted even when we were not told the exact value.
KEY_PATTERNS = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}|AIza[A-Za-z0-9_\-]{8,}")
REDACTED = "[REDACTED]"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# "job_transition job_id=7 from=processing to=completed …": an event name, then pairs.
_STRUCTURED = re.compile(r"^([a-z][a-z0-9_]*)((?: [A-Za-z_][A-Za-z0-9_]*=\S*)+)$")
_PAIR = re.compile(r" ([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_RESERVED = frozenset({"ts", "level", "logger", "msg", "event"})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret and every key-shaped string in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    return KEY_PATTERNS.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Render each record once, redact it, and hand the clean text on."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message, self.secrets)
        record.args = None
        return True


def _scalar(value: str) -> Any:
    if value == "-":
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``event key=value…`` messages also become fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        ts = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        match = _STRUCTURED.match(message)
        if match:
            out["event"] = match.group(1)
            for key, value in _PAIR.findall(match.group(2)):
                out[key if key not in _RESERVED else f"{key}_"] = _scalar(value)
        if record.exc_info:  # only when no RedactingFilter folded it into the message
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record.

    A handler bound to the ``sys.stderr`` of its creation would keep writing to a stream
    that test runners (and some daemons) have since closed or replaced.
    """

    _seobatch = True

    def __init__(self) -> None:
        super().__init__()
        self._explicit: Any = None

    @property
    def stream(self) -> Any:
        return self._explicit if self._explicit is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._explicit = None if value is sys.stderr else value


def make_formatter(fmt: str = "text") -> logging.Formatter:
    """The formatter for ``fmt`` (``text`` or ``json``)."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")


def setup_logging(
    level: int | str = logging.INFO, secrets: Iterable[str] = (), fmt: str = "text"
) -> None:
    """Log to stderr in ``fmt`` (``text``: ``time level logger: message``; ``json``) with
    secrets redacted on every handler of the root logger.

    Safe to call again (the format changes, no handler is added twice). When the root
    logger already writes to a stream through a plain ``StreamHandler`` (``dramatiq``'s
    worker processes, ``logging.basicConfig``), that handler is used instead of a new one.
    """
    formatter = make_formatter(fmt)
    root = logging.getLogger()
    targets: list[logging.Handler] = [h for h in root.handlers if isinstance(h, StderrHandler)]
    if not targets:
        # Under `dramatiq`, worker processes already log through a basicConfig handler
        # (to the master's pipe): a second handler would print every line twice. Keep
        # theirs, and give it our format only when machines read it (json).
        configured: list[logging.Handler] = [h for h in root.handlers if type(h) is logging.StreamHandler]
        if configured:
            targets = configured if fmt == "json" else []
        else:
            stderr = StderrHandler()
            root.addHandler(stderr)
            targets = [stderr]
    for handler in targets:
        handler.setFormatter(formatter)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(secrets))
    root.setLevel(level)
    # peewee's DEBUG log prints every query with its parameters: never below INFO.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))

