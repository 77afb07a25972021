"""Measuring a provider client's memory on a large batch.

The emulator runs in a child process so that tracemalloc measures the client alone;
the requests are built lazily, like the pipeline's keyset pages, so the test holds
none of them either.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from seobatch.providers.base import Prompt

T = TypeVar("T")

_SERVE = (
    "import sys\n"
    "from seobatch.emulator import Emulator\n"
    "emu = Emulator(processing_seconds=0.0).start()\n"
    "print(emu.url, flush=True)\n"
    "sys.stdin.read()\n"  # run until the parent closes our stdin
    "emu.stop()\n"
)
_FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 120


@contextmanager
def child_emulator() -> Iterator[str]:
    """An emulator (batches end at once) in a child process; yields its url."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "the emulator did not start"
        yield url
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stats(url: str) -> dict:
    """The child emulator's ``stats()``, read over HTTP."""
    with urllib.request.urlopen(url + "/_emulator/stats", timeout=10) as resp:
        return json.load(resp)


def big_prompts(count: int, text_bytes: int) -> Iterator[tuple[str, Prompt]]:
    """``count`` (custom id, prompt) pairs, each with ``text_bytes`` of page text, built lazily."""
    filler = _FILLER[:text_bytes]
    for i in range(count):
        yield f"p{i}", Prompt("You write SEO metadata.", f"URL: https://big.test/p/{i}\nTitle: Item {i}\n\n{filler}")


def traced_peak(work: Callable[[], T]) -> tuple[T, int]:
    """What ``work()`` returns, and the peak bytes tracemalloc saw it allocate."""
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak
