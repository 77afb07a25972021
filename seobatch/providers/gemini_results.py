"""Gemini batch results → ``ItemResult``: responses-file lines and inlined responses.

Joined by our key, never by position. A broken line becomes an errored item when its key
is still readable and is skipped (logged) otherwise; token counts are clamped by
``to_count`` so hostile usage can't crash the parser or overflow a column.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ..jobmeta import ItemStatus
from .base import ItemResult, obj_at, to_count

log = logging.getLogger("seobatch.providers.gemini")

#: finishReasons that still leave a usable (maybe truncated) reply for the validator.
_OK_FINISH = {None, "STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"}
_KEY_IN_LINE = re.compile(rb'"key"\s*:\s*"([^"\\]{1,200})"')


def parse_file_line(line: bytes) -> ItemResult | None:
    """One responses-file line ``{"key", "response"|"error"}``; bad lines errored by key or skipped."""
    try:
        obj = json.loads(line)
    except ValueError:
        match = _KEY_IN_LINE.search(line)
        if match:
            key = match.group(1).decode("utf-8", "replace")
            return ItemResult(key, ItemStatus.ERRORED, error="malformed_result: line is not valid JSON")
        log.warning("skipping an unreadable gemini result line (%d bytes)", len(line))
        return None
    if not isinstance(obj, dict):
        log.warning("skipping a gemini result line that is not an object")
        return None
    key = obj.get("key")
    if not isinstance(key, str):
        key = obj_at(obj, "metadata").get("key")
    return _entry(key, obj)


def parse_inline_entry(entry: Any) -> ItemResult | None:
    """One ``inlinedResponses`` entry, joined by ``metadata.key`` (never by position)."""
    return _entry(obj_at(entry, "metadata").get("key"), entry)


def _entry(key: Any, obj: Any) -> ItemResult | None:
    if not isinstance(key, str) or not key:
        log.warning("skipping a gemini result without a key")
        return None
    if isinstance(obj.get("response"), dict):
        return parse_response(key, obj["response"])
    error = obj.get("error")
    if isinstance(error, dict):
        kind = error.get("status") or error.get("code") or "error"
        return ItemResult(key, ItemStatus.ERRORED, error=f"{kind}: {error.get('message') or ''}".rstrip(": "))
    return ItemResult(key, ItemStatus.ERRORED, error="malformed_result: neither response nor error")


def parse_response(key: str, resp: dict[str, Any]) -> ItemResult:
    """A GenerateContentResponse → text of candidates[0] (thoughts skipped) and usage."""
    usage = obj_at(resp, "usageMetadata")
    tokens: dict[str, Any] = {  # ItemResult's two token counts
        "input_tokens": to_count(usage.get("promptTokenCount")),
        "output_tokens": to_count(to_count(usage.get("candidatesTokenCount")) + to_count(usage.get("thoughtsTokenCount"))),
    }
    candidates = resp.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        reason = obj_at(resp, "promptFeedback").get("blockReason")
        return ItemResult(key, ItemStatus.ERRORED, error=f"blocked: {reason}" if reason else "no_candidates", **tokens)
    first = candidates[0]
    finish = first.get("finishReason")
    parts = obj_at(first, "content").get("parts")
    parts = parts if isinstance(parts, list) else []
    text = "".join(
        p["text"] for p in parts if isinstance(p, dict) and not p.get("thought") and isinstance(p.get("text"), str)
    )
    if finish not in _OK_FINISH:
        return ItemResult(key, ItemStatus.ERRORED, error=f"finish_reason: {finish}", **tokens)
    if not text:
        return ItemResult(key, ItemStatus.ERRORED, error=f"empty_reply (finishReason {finish})", **tokens)
    return ItemResult(key, ItemStatus.SUCCEEDED, text=text, **tokens)
