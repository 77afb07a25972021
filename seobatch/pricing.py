"""What a job costs: list prices per model, the batch discount, and cheap token estimates.

``PRICES`` holds the interactive list prices in USD per million tokens (provider-apis.md
§4, simonw/llm-prices, corroborated by the vendors' pages). Both batch APIs charge half:
``BATCH_DISCOUNT``. A dated or versioned id (``claude-sonnet-4-5-20250929``,
``gemini-2.5-flash-001``) takes the price of its base id. ``SEOBATCH_PRICES_FILE`` names
a JSON file of overrides and additions::

    {"claude-sonnet-5": {"input": 3.0, "output": 15.0},
     "my-model": {"input": 1, "output": 2, "batch_discount": 0.5}}

A model with no price still runs; its cost is ``None`` ("unknown").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import ConfigError

#: Both providers bill batch requests at half the interactive price.
BATCH_DISCOUNT = 0.5
PER = 1_000_000


@dataclass(frozen=True)
class Price:
    """List price of a model: USD per million input / output tokens, interactive."""

    input: float
    output: float
    batch_discount: float = BATCH_DISCOUNT

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool) -> float:
        usd = (input_tokens * self.input + output_tokens * self.output) / PER
        return usd * self.batch_discount if batch else usd


#: Interactive list prices, USD per million tokens (prompts under the long-context tier).
PRICES: dict[str, Price] = {
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "claude-opus-4-6": Price(5.00, 25.00),
    "claude-opus-4-7": Price(5.00, 25.00),
    "claude-opus-4-8": Price(5.00, 25.00),
    # Retired, kept so old jobs still show their cost.
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-5": Price(5.00, 25.00),
    # Sources disagree on a rise to 3/15 (provider-apis.md §4); override if billed so.
    "claude-sonnet-5": Price(2.00, 10.00),
    "claude-sonnet-5-5": Price(2.00, 10.00),
    "claude-opus-5-5": Price(4.00, 20.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    # Prompts up to 200k tokens; SEO prompts are a few thousand.
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
}

#: What may follow a base id and still be the same model: a date, a version number, an
#: alias. ``claude-opus-4-9`` is NOT ``claude-opus-4``: an unknown model has no price.
_SUFFIX_RE = re.compile(r"^(?:\d{8}|\d{3}|v\d+|latest|preview(?:-\d{2}-\d{2})?|exp(?:-\d{4})?)$")


def _parse_overrides(raw: Any, path: str) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ConfigError(f"SEOBATCH_PRICES_FILE {path}: expected a JSON object of models")
    prices: dict[str, Price] = {}
    for model, entry in raw.items():
        if not isinstance(entry, dict):
            raise ConfigError(
                f"SEOBATCH_PRICES_FILE {path}: {model!r} must be an object like "
                '{"input": 3.0, "output": 15.0}'
            )
        values: dict[str, float] = {}
        for key in ("input", "output", "batch_discount"):
            value = entry.get(key, BATCH_DISCOUNT if key == "batch_discount" else None)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0
            ):
                raise ConfigError(
                    f"SEOBATCH_PRICES_FILE {path}: {model!r} needs {key!r} as a number >= 0 "
                    "(USD per million tokens)"
                )
            values[key] = float(value)
        if values["batch_discount"] > 1:
            raise ConfigError(
                f"SEOBATCH_PRICES_FILE {path}: {model!r} batch_discount is a factor (0.5), not a percent"
            )
        prices[str(model)] = Price(values["input"], values["output"], values["batch_discount"])
    return prices


@lru_cache(maxsize=8)
def _load_overrides(path: str, mtime_ns: int) -> dict[str, Price]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"SEOBATCH_PRICES_FILE {path} is not valid JSON: {exc}") from None
    return _parse_overrides(raw, path)


def price_table(settings: Settings | None = None) -> dict[str, Price]:
    """``PRICES`` with the overrides of ``settings.prices_file`` applied."""
    path = settings.prices_file if settings else None
    if not path:
        return PRICES
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"SEOBATCH_PRICES_FILE {path} cannot be read: {exc.strerror or exc}") from None
    return {**PRICES, **_load_overrides(path, mtime)}


def price_for(model: str, settings: Settings | None = None) -> Price | None:
    """The price of ``model`` (exact id, or the longest base id it extends), or None."""
    table = price_table(settings)
    name = (model or "").strip().lower().removeprefix("models/")
    if name in table:
        return table[name]
    best: str | None = None
    for base in table:
        if name.startswith(base + "-") and _SUFFIX_RE.match(name[len(base) + 1 :]):
            if best is None or len(base) > len(best):
                best = base
    return table[best] if best else None


def batch_cost(
    model: str, input_tokens: int, output_tokens: int, settings: Settings | None = None
) -> float | None:
    """USD for tokens billed through a batch API; None when the model has no price.

    With the estimated input and every request's ``max_tokens`` as output, this is the
    upper bound the ``--max-cost`` guard compares before anything is sent.
    """
    price = price_for(model, settings)
    return None if price is None else price.cost(input_tokens, output_tokens, batch=True)


def interactive_cost(
    model: str, input_tokens: int, output_tokens: int, settings: Settings | None = None
) -> float | None:
    """USD for the same tokens at interactive prices (what batch saved, for reports)."""
    price = price_for(model, settings)
    return None if price is None else price.cost(input_tokens, output_tokens, batch=False)


def estimate_tokens(text: str) -> int:
    """A cheap, slightly pessimistic token count: ~4 characters per token for ASCII,
    plus half a token per extra UTF-8 byte (CJK ≈ 1.25 tokens a character)."""
    if not text:
        return 0
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return math.ceil(len(text) / 4 + extra / 2)

