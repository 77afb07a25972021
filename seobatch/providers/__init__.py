"""Provider routing: ``claude-*`` → Anthropic Message Batches, ``gemini-*`` → Gemini Batch API,
``gpt-*`` and OpenAI's reasoning models (``o1``, ``o3``, ``o4-mini``, …) → OpenAI Batch API."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import requests

from ..errors import ConfigError
from ..pricing import price_for, price_table
from ..routing import accepted_models, provider_for_model
from .anthropic import AnthropicBatches
from .base import BatchInfo, BatchProvider, BatchRequest, ItemResult, Prompt, TransportOptions
from .gemini import GeminiBatches
from .openai import OpenAIBatches

if TYPE_CHECKING:
    from ..config import Settings


def provider_name(model: str, settings: Settings | None = None) -> str:
    """The provider a model routes to, or a ConfigError that says what is accepted.

    With ``settings``, its compatible endpoints' prefixes are accepted too (they route
    to the OpenAI client)."""
    name = provider_for_model(model, settings)
    if name is None:
        raise ConfigError(
            f"unknown model {model!r}: use a model of {accepted_models(settings)}"
        )
    return name


def check_model(model: str, settings: Settings) -> str:
    """The provider of ``model``, after checking it is a model seobatch knows: in the price
    table (with ``SEOBATCH_PRICES_FILE``), or listed in ``SEOBATCH_ALLOW_MODELS``. A typo
    such as ``claude-sonet-4-5`` routes to a provider but would be billed (or errored) as
    an unknown model on every page, so it is refused with the nearest known names."""
    name = provider_name(model)
    if price_for(model, settings) is not None or model in settings.allow_models:
        return name
    known = [m for m in price_table(settings) if provider_for_model(m) == name]
    near = difflib.get_close_matches(model.strip().lower(), known, n=2, cutoff=0.8)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    raise ConfigError(
        f"unknown model {model!r}: it has no price in seobatch's table{hint} To run it anyway, "
        "list it in SEOBATCH_ALLOW_MODELS (or pass --allow-unknown-model), or give it a price "
        "in SEOBATCH_PRICES_FILE"
    )


def get_provider(
    model: str, settings: Settings, *, session: requests.Session | None = None
) -> BatchProvider:
    """Build the client for ``model``'s provider from settings (key, base URL)."""
    name = provider_name(model, settings)
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
    compat = settings.compat_for(model)
    if compat is not None:
        if not compat.key:
            raise ConfigError(f"{compat.key_variable} is not set: the compatible endpoint for {compat.prefix}* "
                              "needs a key")
        return OpenAIBatches(
            api_key=compat.key, base_url=compat.base_url, session=session, key_variable=compat.key_variable,
            metadata=compat.metadata, response_format=compat.response_format,
            max_requests=compat.max_requests, **limits,
        )
    if name == "openai":
        return OpenAIBatches(
            api_key=settings.api_key_for("openai"),
            base_url=settings.openai_base_url,
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
    "check_model",
    "get_provider",
    "provider_name",
]
