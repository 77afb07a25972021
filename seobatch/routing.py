"""Which provider serves a model: by its name's prefix, and a compatible endpoint's prefix
from the settings (never remembered by the process)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

PROVIDER_PREFIXES = {"claude-": "anthropic", "gemini-": "gemini", "gpt-": "openai"}
#: OpenAI's reasoning models have no prefix of their own: o1, o3, o3-mini, o4-mini, …
_OPENAI_REASONING_RE = re.compile(r"^o[1-9](?:-|$)")
#: What routing accepts, for error messages.
ACCEPTED_MODELS = "claude-* (Anthropic), gemini-* (Gemini), gpt-* or o1/o3/o4-* (OpenAI)"


def accepted_models(settings: Settings | None = None) -> str:
    """What routing accepts, for error messages (with ``settings``' compatible prefixes)."""
    prefixes = sorted(c.prefix for c in settings.compat_endpoints) if settings is not None else []
    extra = ", ".join(f"{p}* (OpenAI-compatible)" for p in prefixes)
    return f"{ACCEPTED_MODELS}, {extra}" if extra else ACCEPTED_MODELS


def provider_for_model(model: str | None, settings: Settings | None = None) -> str | None:
    """``claude-*`` → ``anthropic``, ``gemini-*`` → ``gemini``, ``gpt-*`` and ``o<digit>[-*]``
    → ``openai``, a prefix of ``settings``' compatible endpoints (SEOBATCH_COMPAT_ENDPOINTS)
    → ``openai`` too, anything else → None. The prefixes are the settings' own, never
    remembered by the process: two configurations in one process do not see each other's."""
    for prefix, provider in PROVIDER_PREFIXES.items():
        if (model or "").startswith(prefix):
            return provider
    if _OPENAI_REASONING_RE.match(model or ""):
        return "openai"
    if settings is not None and model and settings.compat_for(model) is not None:
        return "openai"
    return None


__all__ = ["ACCEPTED_MODELS", "PROVIDER_PREFIXES", "accepted_models", "provider_for_model"]
