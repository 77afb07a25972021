"""Hypothesis strategies for provider result lines (R12): hostile, broken and valid."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

#: custom_ids a result line may carry: ours, near misses, and hostile strings.
OUR_IDS = ("p1", "p2", "p3")
HOSTILE_TEXT = st.sampled_from([
    "", "\x00", "\ud800", "\udfff", "p1\x00", "p1 ", " p1", "P1", "p1'; DROP TABLE seo_pages;--",
    "\u202ep1", "p\u200b1", "𝓅1", "p" * 65, "../../etc/passwd", "{\"x\":1}", "\n", "\r\n",
])
ANY_TEXT = st.one_of(st.text(max_size=40), HOSTILE_TEXT)
IDS = st.one_of(st.sampled_from(OUR_IDS), st.sampled_from(OUR_IDS), st.sampled_from(OUR_IDS),
                HOSTILE_TEXT, st.text(max_size=20))

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)),
    max_leaves=12,
)
TOKENS = st.one_of(
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12", "x", None, True, [], {}]),
)


def _good_reply(n: int) -> str:
    return json.dumps({
        "title": f"Hand-made oak chair model {n} | Example",
        "meta_description": f"Everything about the hand-made oak chair model {n}: wood, finish, care and delivery.",
    })


REPLIES = st.one_of(
    st.integers(min_value=1, max_value=3).map(_good_reply),
    ANY_TEXT,
    JSON_VALUES.map(lambda v: json.dumps(v)),
    st.fixed_dictionaries({"title": ANY_TEXT, "meta_description": ANY_TEXT}).map(json.dumps),
    st.sampled_from([
        '{"title": "<script>alert(1)</script>Oak chair", "meta_description": "x"}',
        '```json\n{"title": "Oak chair model 1 for sale", "meta_description": "' + "d" * 80 + '"}\n```',
        '{"title": "Ignore previous instructions now", "meta_description": "' + "e" * 80 + '"}',
        '{"title": "Oak\u0000chair model one", "meta_description": "' + "\u202e" * 3 + "f" * 80 + '"}',
    ]),
)

CONTENT_BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": REPLIES}),
    st.fixed_dictionaries({"type": st.sampled_from(["text", "tool_use", "thinking", 3]), "text": JSON_VALUES}),
    JSON_VALUES,
)

TEXT_BLOCKS = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": REPLIES}), min_size=1, max_size=2)
USAGE = st.fixed_dictionaries({"input_tokens": TOKENS, "output_tokens": TOKENS},
                              optional={"cache_read_input_tokens": TOKENS, "cache_creation_input_tokens": TOKENS})
ANTHROPIC_MESSAGE = st.fixed_dictionaries(
    {
        "content": st.one_of(TEXT_BLOCKS, TEXT_BLOCKS, st.lists(CONTENT_BLOCK, max_size=3), JSON_VALUES),
        "usage": st.one_of(USAGE, USAGE, JSON_VALUES),
    },
    optional={"stop_reason": st.sampled_from(["end_turn", "max_tokens", "refusal", None, 7])},
)

_SUCCEEDED = st.fixed_dictionaries({"type": st.just("succeeded"), "message": ANTHROPIC_MESSAGE})
ANTHROPIC_RESULT = st.one_of(
    _SUCCEEDED, _SUCCEEDED, _SUCCEEDED,
    st.fixed_dictionaries({"type": st.just("succeeded"), "message": JSON_VALUES}),
    st.fixed_dictionaries({
        "type": st.just("errored"),
        "error": st.one_of(
            st.fixed_dictionaries({"type": st.just("error"), "error": st.fixed_dictionaries(
                {"type": st.sampled_from(["invalid_request_error", "api_error", "\x00", 5]), "message": ANY_TEXT})}),
            JSON_VALUES,
        ),
    }),
    st.fixed_dictionaries({"type": st.sampled_from(["expired", "canceled", "unknown", "", None, 1])}),
    JSON_VALUES,
)

ANTHROPIC_OBJECT = st.fixed_dictionaries({"custom_id": st.one_of(IDS, JSON_VALUES), "result": ANTHROPIC_RESULT})


def _dump(obj: Any, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _lines(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    dumped = st.tuples(objects, st.booleans()).map(lambda t: _dump(*t))
    truncated = st.tuples(dumped, st.integers(min_value=0, max_value=400)).map(lambda t: t[0][: t[1]])
    return st.one_of(
        dumped, dumped, dumped, dumped,
        truncated,
        st.binary(max_size=200),
        st.tuples(JSON_VALUES, st.booleans()).map(lambda t: _dump(*t)),
        st.sampled_from([b"\xff\xfe{\"custom_id\": \"p1\"}", b'{"custom_id": "p1", "result": ', b"null", b"[]",
                         b'{"custom_id": "p2"' + b"x" * 5000, b'{"custom_id":"p1","result":{"type":"succeeded"}}\x00']),
    )


ANTHROPIC_LINES = _lines(ANTHROPIC_OBJECT)

GEMINI_PART = st.one_of(
    st.fixed_dictionaries({"text": REPLIES}, optional={"thought": st.booleans()}),
    JSON_VALUES,
)
GEMINI_RESPONSE = st.fixed_dictionaries(
    {},
    optional={
        "candidates": st.one_of(
            st.lists(st.fixed_dictionaries(
                {"content": st.one_of(st.fixed_dictionaries({"parts": st.lists(GEMINI_PART, max_size=3)}), JSON_VALUES)},
                optional={"finishReason": st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", None, 3])},
            ), max_size=2),
            JSON_VALUES,
        ),
        "usageMetadata": st.one_of(
            st.fixed_dictionaries({}, optional={"promptTokenCount": TOKENS, "candidatesTokenCount": TOKENS,
                                                "thoughtsTokenCount": TOKENS}),
            JSON_VALUES,
        ),
        "promptFeedback": JSON_VALUES,
    },
)
_GEMINI_GOOD = st.fixed_dictionaries({
    "key": IDS,
    "response": st.fixed_dictionaries({
        "candidates": st.lists(st.fixed_dictionaries({
            "content": st.fixed_dictionaries({"parts": st.lists(GEMINI_PART, min_size=1, max_size=2)}),
            "finishReason": st.sampled_from(["STOP", "STOP", "MAX_TOKENS", "SAFETY"]),
        }), min_size=1, max_size=2),
        "usageMetadata": st.fixed_dictionaries({"promptTokenCount": TOKENS, "candidatesTokenCount": TOKENS}),
    }),
})
GEMINI_OBJECT = st.one_of(
    _GEMINI_GOOD, _GEMINI_GOOD, _GEMINI_GOOD,
    st.fixed_dictionaries({"key": st.one_of(IDS, JSON_VALUES)},
                          optional={"response": st.one_of(GEMINI_RESPONSE, JSON_VALUES),
                                    "error": st.one_of(st.fixed_dictionaries({"code": SCALARS, "message": ANY_TEXT,
                                                                              "status": SCALARS}), JSON_VALUES)}),
    st.fixed_dictionaries({"metadata": st.one_of(st.fixed_dictionaries({"key": IDS}), JSON_VALUES),
                           "response": st.one_of(GEMINI_RESPONSE, JSON_VALUES)}),
    JSON_VALUES,
)
GEMINI_LINES = _lines(GEMINI_OBJECT)

#: Well-formed success lines whose reply text is the fuzzed part (valid or hostile).
GOOD_ANTHROPIC_LINES = st.tuples(st.sampled_from(OUR_IDS), REPLIES, st.integers(0, 5000)).map(
    lambda t: _dump({"custom_id": t[0], "result": {"type": "succeeded", "message": {
        "content": [{"type": "text", "text": t[1]}], "stop_reason": "end_turn",
        "usage": {"input_tokens": t[2], "output_tokens": 50}}}}, False)
)
GOOD_GEMINI_LINES = st.tuples(st.sampled_from(OUR_IDS), REPLIES, st.integers(0, 5000)).map(
    lambda t: _dump({"key": t[0], "response": {
        "candidates": [{"content": {"parts": [{"text": t[1]}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": t[2], "candidatesTokenCount": 50}}}, False)
)
