"""The canary API keys: tests run with these and assert they surface nowhere (S1)."""

from __future__ import annotations

CANARY_ANTHROPIC = "sk-ant-CANARY-api03-" + "Zq7" * 12
CANARY_GEMINI = "AIzaCANARY" + "k9X" * 10
CANARY_OPENAI = "sk-proj-CANARY" + "Wv4" * 14
CANARIES = (CANARY_ANTHROPIC, CANARY_GEMINI, CANARY_OPENAI)
