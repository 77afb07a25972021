"""Decoding a create body's array element by element, however the bytes are split."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seobatch.emulator.jsonstream import NotStreamable, iter_array

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]


@settings(max_examples=150, deadline=None)
@given(st.lists(values, max_size=6), st.lists(st.integers(0, 10_000), max_size=12),
       st.sampled_from([(", ", ": "), (",", ":")]), st.booleans())
def test_elements_come_out_whole_however_the_body_is_cut(elements, cuts, separators, ascii_only):
    data = json.dumps({"requests": elements}, separators=separators, ensure_ascii=ascii_only).encode()
    assert list(iter_array(split(data, cuts), "requests")) == elements


def test_another_shape_is_handed_back_whole_for_a_full_parse():
    data = json.dumps({"other": 1, "requests": [1]}).encode()
    with pytest.raises(NotStreamable) as exc:
        list(iter_array(split(data, [3, 9]), "requests"))
    assert data.startswith(exc.value.raw)
    indented = json.dumps({"requests": [1, 2]}, indent=2).encode()
    with pytest.raises(NotStreamable):
        list(iter_array([indented], "requests"))


@pytest.mark.parametrize("body", [b'{"requests": [1, 2', b'{"requests": [1 2]}', b'{"requests": [{"a": }]}',
                                  b'{"requests": [1]', b'{"requests": [1]} x', b'{"requests": [1], "b": 2}'])
def test_broken_json_is_a_value_error(body):
    with pytest.raises(ValueError):
        list(iter_array(split(body, [5, 11, 17]), "requests"))
