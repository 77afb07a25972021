"""Logging set-up: one line per record, and no secret ever reaches a handler."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: Shapes of provider keys, redacted even when we were not told the exact value.
KEY_PATTERNS = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}|AIza[A-Za-z0-9_\-]{8,}")
REDACTED = "[REDACTED]"


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


def setup_logging(level: int | str = logging.INFO, secrets: Iterable[str] = ()) -> None:
    """Log to stderr as ``time level logger: message`` with secrets redacted."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(secrets))
    root.setLevel(level)
    # peewee's DEBUG log prints every query with its parameters: never below INFO.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
