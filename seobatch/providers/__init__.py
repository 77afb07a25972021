"""Provider routing: ``claude-*`` → Anthropic Message Batches, ``gemini-*`` → Gemini Batch API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from ..errors import ConfigError
from ..models import provider_for_model
from .anthropic import AnthropicBatches
from .base import BatchInfo, BatchProvider, BatchRequest, ItemResult, Prompt, TransportOptions
from .gemini import GeminiBatches

if TYPE_CHECKING:
    from ..config import Settings


def provider_name(model: str) -> str:
    """The provider a model routes to, or a ConfigError that says what is accepted."""
    name = provider_for_model(model)
    if name is None:
        raise ConfigError(
            f"unknown model {model!r}: use a claude-* model (Anthropic) or a gemini-* model (Gemini)"
        )
    return name


def get_provider(
    model: str, settings: Settings, *, session: requests.Session | None = None
) -> BatchProvider:
    """Build the client for ``model``'s provider from settings (key, base URL)."""
    name = provider_name(model)
    # Connect within 5 s (or the read timeout, if shorter); each read within http_timeout.
    limits: TransportOptions = {
        "timeout": (min(5.0, settings.http_timeout), settings.http_timeout),
        "max_retries": settings.http_retries,
        "stream_deadline": settings.results_deadline,
    }
    if name == "anthropic":
        return AnthropicBatches(
            api_key=settings.api_key_for("anthropic"),
            base_url=settings.anthropic_base_url,
            session=session,
            **limits,
        )
    return GeminiBatches(
        api_key=settings.api_key_for("gemini"),
        base_url=settings.gemini_base_url,
        session=session,
        **limits,
    )


__all__ = [
    "BatchInfo",
    "BatchProvider",
    "BatchRequest",
    "ItemResult",
    "Prompt",
    "get_provider",
    "provider_name",
]
