"""R12 (parsing half): fuzzed result lines through both clients' parsers never crash.

Every line either becomes a well-formed ``ItemResult`` or is skipped (None): no other
exception, no token count that is negative, not an int or out of a 32-bit column's
range, no "succeeded" without text.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seobatch.providers import anthropic, gemini
from seobatch.providers.base import ItemResult

from .strategies import ANTHROPIC_LINES, GEMINI_LINES, GEMINI_OBJECT, JSON_VALUES

OUTCOMES = {"succeeded", "errored", "expired", "canceled"}
INT32_MAX = 2**31 - 1
FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_item(item: ItemResult | None) -> None:
    if item is None:
        return
    assert isinstance(item, ItemResult)
    assert isinstance(item.custom_id, str) and item.custom_id
    assert item.outcome in OUTCOMES
    for tokens in (item.input_tokens, item.output_tokens):
        assert type(tokens) is int and 0 <= tokens <= INT32_MAX, tokens
    if item.outcome == "succeeded":
        assert isinstance(item.text, str) and item.text
    if item.outcome == "errored":
        assert isinstance(item.error, str)


@FUZZ
@given(ANTHROPIC_LINES)
def test_r12_fuzzed_anthropic_result_lines_parse_or_are_skipped(line):
    """R12: any Anthropic results line → a valid ItemResult or None, never a crash."""
    check_item(anthropic.parse_result_line(line))


@FUZZ
@given(GEMINI_LINES)
def test_r12_fuzzed_gemini_file_lines_parse_or_are_skipped(line):
    """R12: any Gemini responses-file line → a valid ItemResult or None, never a crash."""
    check_item(gemini.parse_file_line(line))


@FUZZ
@given(st.one_of(GEMINI_OBJECT, JSON_VALUES))
def test_r12_fuzzed_gemini_inline_entries_parse_or_are_skipped(entry):
    """R12: any Gemini inlined response entry → a valid ItemResult or None."""
    check_item(gemini.parse_inline_entry(json.loads(json.dumps(entry))))
