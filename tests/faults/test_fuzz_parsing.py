"""R12 (parsing half): fuzzed result lines through both clients' parsers never crash.

Every line either becomes a well-formed ``ItemResult`` or is skipped (None): no other
exception, no token count that is negative, not an int or out of a 32-bit column's
range, no "succeeded" without text. And a line that is well-formed (our id, a reply of
any text, sane usage) is never skipped: it parses to that id, its tokens and its text
(so a parser that skipped everything could not pass).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seobatch.providers import anthropic, gemini
from seobatch.providers.base import ItemResult

from tests.faults.strategies import ANTHROPIC_LINES, GEMINI_LINES, GEMINI_OBJECT, JSON_VALUES, OUR_IDS, REPLIES

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


#: A well-formed success: one of our ids, any reply text (valid JSON, hostile or empty),
#: sane token counts.
WELL_FORMED = st.tuples(
    st.sampled_from(OUR_IDS), REPLIES, st.integers(0, 100_000), st.integers(0, 100_000)
)


def check_well_formed(item: ItemResult | None, cid: str, reply: str, tokens_in: int, tokens_out: int) -> None:
    assert isinstance(item, ItemResult), "a well-formed line was skipped"
    check_item(item)
    assert (item.custom_id, item.input_tokens, item.output_tokens) == (cid, tokens_in, tokens_out)
    if reply:
        assert (item.outcome, item.text) == ("succeeded", reply)
    else:
        assert item.outcome == "errored" and "empty_reply" in item.error


@FUZZ
@given(WELL_FORMED, st.booleans())
def test_r12_well_formed_anthropic_lines_always_parse(case, ascii_only):
    cid, reply, tokens_in, tokens_out = case
    line = json.dumps({"custom_id": cid, "result": {"type": "succeeded", "message": {
        "content": [{"type": "text", "text": reply}], "stop_reason": "end_turn",
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}}}, ensure_ascii=ascii_only)
    item = anthropic.parse_result_line(line.encode("utf-8", "surrogatepass"))
    check_well_formed(item, cid, reply, tokens_in, tokens_out)


def _gemini_response(reply: str, tokens_in: int, tokens_out: int) -> dict:
    return {"candidates": [{"content": {"parts": [{"text": reply}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": tokens_in, "candidatesTokenCount": tokens_out}}


@FUZZ
@given(WELL_FORMED, st.booleans())
def test_r12_well_formed_gemini_file_lines_always_parse(case, ascii_only):
    cid, reply, tokens_in, tokens_out = case
    line = json.dumps({"key": cid, "response": _gemini_response(reply, tokens_in, tokens_out)},
                      ensure_ascii=ascii_only)
    item = gemini.parse_file_line(line.encode("utf-8", "surrogatepass"))
    check_well_formed(item, cid, reply, tokens_in, tokens_out)


@FUZZ
@given(WELL_FORMED)
def test_r12_well_formed_gemini_inline_entries_always_parse(case):
    cid, reply, tokens_in, tokens_out = case
    entry = {"metadata": {"key": cid}, "response": _gemini_response(reply, tokens_in, tokens_out)}
    item = gemini.parse_inline_entry(json.loads(json.dumps(entry)))
    check_well_formed(item, cid, reply, tokens_in, tokens_out)
