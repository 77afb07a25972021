"""A Gemini client wired for tests against the emulator, and requests to send it."""

from __future__ import annotations

from seobatch.providers.base import Prompt
from seobatch.providers.gemini import GeminiBatches

from tests.support.canaries import CANARY_GEMINI
from tests.support.fakehttp import Sleeps

MODEL = "gemini-2.5-flash"


def client(url: str, sleeps: Sleeps | None = None, **kw) -> GeminiBatches:
    kw.setdefault("timeout", (2.0, 5.0))
    return GeminiBatches(CANARY_GEMINI, url, sleep=sleeps if sleeps is not None else Sleeps(), rng=lambda: 0.0, **kw)


def reqs(c: GeminiBatches, n: int, filler: str = "Some page text."):
    return [
        c.build_request(
            f"p{i}",
            Prompt("You write SEO metadata.", f"URL: https://shop.test/item/{i}\nTitle: Red Kettle {i}\n\n{filler}"),
            model=MODEL,
            max_tokens=300,
        )
        for i in range(n)
    ]
