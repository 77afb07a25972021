"""Terminal helpers shared by the CLI views and the progress display.

Colour only when the stream is a terminal and ``NO_COLOR`` is unset (https://no-color.org);
durations and money written the way a person reads them at 6 a.m.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from .jobmeta import JobStatus

RESET = "\x1b[0m"
CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
         "cyan": "36"}

#: How each job status is coloured in tables and progress lines.
STATUS_STYLE: dict[str, str] = {
    JobStatus.COLLECTING: "cyan",
    JobStatus.SUBMITTING: "yellow",
    JobStatus.PROCESSING: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
}


def isatty(stream: IO[Any] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False


def use_color(stream: IO[Any] | None, env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is a terminal and the user did not ask for NO_COLOR."""
    env = os.environ if env is None else env
    return isatty(stream) and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def style(text: str, *names: str, enabled: bool = True) -> str:
    """Wrap ``text`` in the ANSI codes of ``names`` (``"red"``, ``"bold"``…) when enabled."""
    codes = ";".join(CODES[n] for n in names if n in CODES)
    if not enabled or not codes:
        return text
    return f"\x1b[{codes}m{text}{RESET}"


def humanize_seconds(seconds: float | None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: the largest unit that fits, for ages in tables."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``: two units, for elapsed times and turnaround."""
    if seconds is None:
        return "-"
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def plural(count: int, noun: str) -> str:
    """``1 page``, ``2 pages``: a count and its noun, plural but for one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_usd(value: float | None, unknown: str = "unknown") -> str:
    """``$12.34``; cents below a dollar keep four decimals so small demo runs are not $0.00."""
    if value is None:
        return unknown
    if value and abs(value) < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def format_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
