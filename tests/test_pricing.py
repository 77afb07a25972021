"""Prices per model, the batch discount, overrides from a file, token estimates."""

from __future__ import annotations

import json
import os

import pytest

from seobatch.config import Settings
from seobatch.errors import ConfigError
from seobatch.pricing import (
    BATCH_DISCOUNT,
    PRICES,
    Price,
    batch_cost,
    estimate_tokens,
    interactive_cost,
    price_for,
)
from seobatch.term import format_usd


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("claude-sonnet-4-5", Price(3.0, 15.0)),
        ("claude-sonnet-4-5-20250929", Price(3.0, 15.0)),
        ("claude-haiku-4-5-20251001", Price(1.0, 5.0)),
        ("claude-opus-4-5-20251101", Price(5.0, 25.0)),
        ("claude-opus-4-8", Price(5.0, 25.0)),
        ("claude-opus-4-20250514", Price(15.0, 75.0)),
        ("claude-opus-5", Price(5.0, 25.0)),
        ("claude-sonnet-5", Price(2.0, 10.0)),
        ("gemini-2.5-flash", Price(0.30, 2.50)),
        ("gemini-2.5-flash-001", Price(0.30, 2.50)),
        ("models/gemini-2.5-flash", Price(0.30, 2.50)),
        ("gemini-2.5-flash-lite", Price(0.10, 0.40)),
        ("gemini-2.5-pro", Price(1.25, 10.0)),
        ("gemini-2.5-pro-preview-06-05", Price(1.25, 10.0)),
    ],
)
def test_known_models_and_their_dated_ids_have_list_prices(model, price):
    assert price_for(model) == price


@pytest.mark.parametrize(
    "model", ["claude-opus-4-9", "gemini-3-pro", "gpt-4o", "", "claude-sonnet-4-5x", "gemini-2.5-flash-image"]
)
def test_an_unknown_model_has_no_price_rather_than_a_neighbours(model):
    assert price_for(model) is None
    assert batch_cost(model, 1000, 1000) is None
    assert format_usd(batch_cost(model, 1000, 1000)) == "unknown"


def test_batch_cost_is_half_the_interactive_cost():
    assert BATCH_DISCOUNT == 0.5
    # 2M input at $3 + 1M output at $15 = $21 interactive, $10.50 batch
    assert interactive_cost("claude-sonnet-4-5", 2_000_000, 1_000_000) == pytest.approx(21.0)
    assert batch_cost("claude-sonnet-4-5", 2_000_000, 1_000_000) == pytest.approx(10.5)


def test_the_cost_guard_estimate_assumes_every_reply_uses_its_max_tokens():
    # 1000 items × 2000 input tokens, max_tokens 400 each, gemini-2.5-flash at batch prices
    estimate = batch_cost("gemini-2.5-flash", 1000 * 2000, 1000 * 400)
    assert estimate == pytest.approx((2_000_000 * 0.30 + 400_000 * 2.50) / 1e6 * 0.5)


def test_a_prices_file_overrides_and_adds_models(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({
        "claude-sonnet-5": {"input": 3, "output": 15},
        "claude-custom-1": {"input": 1.5, "output": 2.5, "batch_discount": 0.4},
    }))
    settings = Settings(prices_file=str(path))
    assert price_for("claude-sonnet-5-20260101", settings) == Price(3.0, 15.0)
    assert batch_cost("claude-custom-1", 1_000_000, 0, settings) == pytest.approx(0.6)
    assert price_for("claude-haiku-4-5", settings) == PRICES["claude-haiku-4-5"]
    # An edited file is read again.
    path.write_text(json.dumps({"claude-sonnet-5": {"input": 4, "output": 16}}))
    os.utime(path, ns=(1, 10**18))
    assert price_for("claude-sonnet-5", settings) == Price(4.0, 16.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "expected a JSON object of models"),
        ('{"m": 3}', "'m' must be an object"),
        ('{"m": {"input": 1}}', "'m' needs 'output' as a number >= 0"),
        ('{"m": {"input": "1", "output": 2}}', "'m' needs 'input' as a number >= 0"),
        ('{"m": {"input": -1, "output": 2}}', "'m' needs 'input' as a number >= 0"),
        ('{"m": {"input": true, "output": 2}}', "'m' needs 'input' as a number >= 0"),
        ('{"m": {"input": 1, "output": 2, "batch_discount": 50}}', "batch_discount is a factor"),
    ],
)
def test_a_bad_prices_file_is_a_config_error_naming_it(tmp_path, content, message):
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        price_for("claude-sonnet-4-5", Settings(prices_file=str(path)))
    assert str(path) in str(caught.value)


def test_a_missing_prices_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="SEOBATCH_PRICES_FILE .*cannot be read"):
        price_for("claude-sonnet-4-5", Settings(prices_file=str(tmp_path / "none.json")))


def test_token_estimates_are_about_four_characters_per_token():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 250) == 250
    assert estimate_tokens("x") == 1
    # Non-Latin text costs more tokens per character; the estimate leans high.
    assert estimate_tokens("日本語のテキスト" * 10) >= 80
    assert estimate_tokens("Привет мир " * 10) > len("Привет мир " * 10) / 4


def test_costs_are_formatted_for_people():
    assert format_usd(12.3456) == "$12.35"
    assert format_usd(1234.5) == "$1,234.50"
    assert format_usd(0.00421) == "$0.0042"
    assert format_usd(0) == "$0.00"
    assert format_usd(-2.5) == "$-2.50"  # a negative saving reads like a positive one
    assert format_usd(None) == "unknown" and format_usd(None, unknown="-") == "-"
