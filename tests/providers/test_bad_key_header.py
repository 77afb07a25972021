"""A key HTTP cannot carry is a set-up error: never retried, never 'the batch may exist'."""

from __future__ import annotations

import pytest

from seobatch.errors import ConfigError, ProviderError
from seobatch.providers.anthropic import AnthropicBatches
from seobatch.providers.base import BatchRequest
from seobatch.providers.gemini import GeminiBatches

SECRET = "sk-ant-secretkey123"


@pytest.mark.parametrize("key", [SECRET + "\n", "sk-ant-secret\u2019key123", "sk-ant-secret\r\nX-Evil: 1"])
def test_a_key_with_a_line_break_or_odd_character_is_a_config_error_that_names_no_key(emulator, key):
    anthropic = AnthropicBatches(key, emulator.url, max_retries=3, sleep=lambda s: None)
    gemini = GeminiBatches(key, emulator.url, max_retries=3, sleep=lambda s: None)
    request = BatchRequest("p1", {"model": "claude-sonnet-4-5", "max_tokens": 1, "messages": []})
    calls = [
        lambda: anthropic.get_batch("msgbatch_x"),
        lambda: anthropic.create_batch([request], model="claude-sonnet-4-5", display_name="d"),
        lambda: gemini.get_batch("batches/x"),
    ]
    for call in calls:
        with pytest.raises(ConfigError) as caught:
            call()
        assert not isinstance(caught.value, ProviderError)  # not transient, not AmbiguousCreate
        text = str(caught.value)
        assert "secret" not in text and "API key" in text and "nothing was sent" in text
    # Nothing reached the provider, and nothing was retried
    assert emulator.stats()["anthropic"]["create"] == 0 and emulator.stats()["anthropic"]["get"] == 0
