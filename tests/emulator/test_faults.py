"""Faults.build: loosely typed values (JSON, CLI flags) become each field's type."""

from __future__ import annotations

import dataclasses

import pytest

from seobatch.emulator.faults import Faults, ScriptedError


def test_every_fault_field_can_be_built_from_loose_values():
    # Every field of Faults is reachable through build (a new field needs a coercion)
    loose = {
        "error_rate": "0.25", "expire_rate": 0, "malformed_rate": "0", "http_errors": {"create": 429},
        "retry_after": "2", "delay": {"get": "0.5"}, "hang": ["list"], "drop_create_response": True,
        "results_out_of_order": 0, "truncate_results": "2", "batch_outcome": "", "results_gone": 1,
        "obey_injections": "yes", "bad_replies": {"/p/1": "too_wide"},
        "openai_no_metadata": 1, "openai_no_response_format": "yes", "gemini_cancel_ignored": 1,
    }
    assert set(loose) == {f.name for f in dataclasses.fields(Faults)}
    built = Faults.build(**loose)
    assert built == Faults(
        error_rate=0.25, http_errors={"create": (ScriptedError(status=429),)}, retry_after=2.0,
        delay={"get": 0.5}, hang=("list",), drop_create_response=1, results_out_of_order=False,
        truncate_results=2, batch_outcome=None, results_gone=True, obey_injections=True,
        bad_replies={"/p/1": "too_wide"},
        openai_no_metadata=True, openai_no_response_format=True, gemini_cancel_ignored=True,
    )


def test_a_bad_reply_kind_must_be_known():
    with pytest.raises(ValueError, match="bad_replies"):
        Faults.build(bad_replies={"*": "rude"})
    assert Faults.build(bad_replies={"*": "placeholder"}).bad_reply_for("https://x/y") == "placeholder"


def test_build_keeps_the_base_and_refuses_unknown_names():
    base = Faults.build(error_rate=0.5)
    assert Faults.build(base, delay=None, hang=0, retry_after=None) == dataclasses.replace(
        base, delay=0.0, hang=False, retry_after=None)
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.build(error_rat=0.1)
