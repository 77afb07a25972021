"""Anthropic Message Batches over ``requests`` (wire format: shared/provider-apis.md §1)."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..errors import AmbiguousCreate, PermanentError, ResultsUnavailable, TransientError
from ..jobmeta import ItemStatus
from ..models import CUSTOM_ID_RE
from .base import (
    BatchClient,
    BatchInfo,
    BatchRequest,
    Ending,
    ItemResult,
    Prompt,
    TransportOptions,
    as_naive_utc,
    obj_at,
    parse_timestamp,
    to_count,
)

if TYPE_CHECKING:
    from typing import Unpack

    import requests

log = logging.getLogger("seobatch.providers.anthropic")

API_VERSION = "2023-06-01"
#: Per-batch limits (batch-processing guide): whichever comes first. The stages plan
#: jobs from these (``stages._common.batch_limits``).
MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256_000_000
#: The API's ``request_counts`` keys, as ``BatchInfo.counts`` keeps them.
COUNT_KEYS = ("processing", "succeeded", "errored", "canceled", "expired")
#: The reply object, for structured outputs (``output_config.format``).
SEO_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "meta_description": {"type": "string"}},
    "required": ["title", "meta_description"],
    "additionalProperties": False,
}
#: Appended to the system prompt when the model has no structured outputs. (Assistant
#: prefill is not used: Claude 4.6+ models reject it with a 400, and in a batch that
#: 400 would only surface as every item errored a day later.)
JSON_INSTRUCTION = (
    '\n\nReply with exactly one JSON object {"title": "...", "meta_description": "..."} '
    "and nothing else."
)
_MODEL_VERSION = re.compile(r"^claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?:-\d{8})?$")
_CUSTOM_ID_IN_LINE = re.compile(rb'"custom_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def supports_structured_output(model: str) -> bool:
    """Structured outputs are GA from the 4.5 generation on; older models would 400."""
    if model.startswith(("claude-2", "claude-3", "claude-instant")):
        return False
    match = _MODEL_VERSION.match(model)
    if not match:
        return True  # a newer naming scheme: newer than the feature
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return (major, minor) >= (4, 5)


class AnthropicBatches(BatchClient):
    """``BatchProvider`` for the Anthropic Message Batches API."""

    name = "anthropic"
    #: Batches carry no name: reconciliation can only match on the request count.
    matches_by_name = False
    key_variable = "ANTHROPIC_API_KEY"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.anthropic.com",
        session: requests.Session | None = None,
        *,
        version: str = API_VERSION,
        structured_output: bool | None = None,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(
            api_key, base_url, session, headers={"x-api-key": api_key, "anthropic-version": version}, **options
        )
        #: None = decide per model (``supports_structured_output``).
        self.structured_output = structured_output

    # ------------------------------------------------------------------ requests

    def build_request(self, custom_id: str, prompt: Prompt, *, model: str, max_tokens: int) -> BatchRequest:
        structured = self.structured_output
        if structured is None:
            structured = supports_structured_output(model)
        system = prompt.system if structured else prompt.system + JSON_INSTRUCTION
        params: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
        if system.strip():
            params["system"] = system
        params["messages"] = [{"role": "user", "content": prompt.user}]
        if structured:
            params["output_config"] = {"format": {"type": "json_schema", "schema": SEO_SCHEMA}}
        return BatchRequest(custom_id=custom_id, body=params)

    @staticmethod
    def _body_chunks(requests_: Iterable[BatchRequest]) -> Iterator[bytes]:
        """The create body ``{"requests":[…]}``, one request per chunk."""
        yield b'{"requests":['
        seen: set[str] = set()
        for req in requests_:
            cid = req.custom_id
            if not isinstance(cid, str) or not CUSTOM_ID_RE.match(cid):
                raise PermanentError(
                    f"custom_id {cid!r} must be 1-64 letters, digits, '_' or '-'", provider="anthropic"
                )
            if cid in seen:
                raise PermanentError(f"custom_id {cid!r} appears twice in one batch", provider="anthropic")
            seen.add(cid)
            if len(seen) > MAX_REQUESTS:
                raise PermanentError(
                    f"a batch holds at most {MAX_REQUESTS} requests: split the job", provider="anthropic"
                )
            item = '{"custom_id":' + json.dumps(cid) + ',"params":' + req.body_json() + "}"
            yield (b"," if len(seen) > 1 else b"") + item.encode()
        if not seen:
            raise PermanentError("a batch needs at least one request", provider="anthropic")
        yield b"]}"

    def _spool_body(self, requests_: Iterable[BatchRequest], out: IO[bytes]) -> int:
        """Write the body to ``out`` (never one big string); enforce the size limit first."""
        size = 0
        for chunk in self._body_chunks(requests_):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PermanentError(
                    f"batch body exceeds {MAX_BODY_BYTES} bytes: split the job", provider=self.name
                )
            out.write(chunk)
        out.flush()
        return size

    # ------------------------------------------------------------------ batches

    def create_batch(self, requests: Iterable[BatchRequest], *, model: str, display_name: str) -> BatchInfo:
        """POST the batch once. 429/529 (refused) are retried; timeouts, drops and 5xx raise
        AmbiguousCreate. Anthropic batches carry no name: ``display_name`` is only logged."""
        with tempfile.TemporaryFile(prefix="seobatch-anthropic-") as body:
            size = self._spool_body(requests, body)
            log.info("creating anthropic batch %s (%d bytes)", display_name, size)
            raw = self._t.call_json(
                "POST",
                self._t.url("/v1/messages/batches"),
                data=body,
                headers={"content-type": "application/json"},
                create=True,
            )
        if not isinstance(raw, dict) or not raw.get("id"):
            raise AmbiguousCreate("create answered without a batch id; the batch may exist", provider=self.name)
        info = self._info(raw)
        return replace(info, display_name=display_name)

    def _batch_url(self, batch_id: str, suffix: str = "") -> str:
        return self._t.url(f"/v1/messages/batches/{quote(batch_id, safe='')}{suffix}")

    def get_batch(self, batch_id: str) -> BatchInfo:
        return self._info(self._t.call_json("GET", self._batch_url(batch_id)))

    def find_batches(self, *, display_name: str, created_after: datetime, request_count: int) -> list[BatchInfo]:
        """Every batch created at/after ``created_after`` with ``request_count`` requests, newest first.

        Batches carry no name here, so a same-sized batch of another job matches too: the
        caller must rule out batches it knows belong to someone else. Batches are listed
        newest first, so paging stops at the first older one.
        """
        cutoff = as_naive_utc(created_after)
        params: dict[str, Any] = {"limit": 100}
        seen_pages: set[str] = set()
        found: list[BatchInfo] = []
        while True:
            page = self._t.call_json("GET", self._t.url("/v1/messages/batches"), params=params)
            page = page if isinstance(page, dict) else {}
            data = page.get("data")
            for raw in data if isinstance(data, list) else ():
                if not isinstance(raw, dict):
                    continue
                info = self._info(raw)
                if info.created_at is not None and info.created_at < cutoff:
                    return found
                if info.request_count == request_count:
                    log.info("anthropic batch %s may be %s's", info.id, display_name)
                    found.append(info)
            last_id = page.get("last_id")
            if not page.get("has_more") or not last_id or last_id in seen_pages:
                return found
            seen_pages.add(last_id)
            params = {"limit": 100, "after_id": last_id}

    def _request_cancel(self, batch_id: str) -> BatchInfo:
        return self._info(self._t.call_json("POST", self._batch_url(batch_id, "/cancel"), data=b""))

    def _info(self, raw: Any) -> BatchInfo:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise TransientError("unexpected batch object (no id)", provider=self.name)
        rc = obj_at(raw, "request_counts")
        counts = {k: to_count(rc.get(k)) for k in COUNT_KEYS}
        status = str(raw.get("processing_status") or "")
        ended = status == "ended"
        ending: Ending | None = None
        if ended:
            if raw.get("cancel_initiated_at"):
                ending = Ending.CANCELED
            elif counts["expired"] > 0:
                ending = Ending.EXPIRED  # the 24 h limit hit; finished items still have results
            else:
                ending = Ending.SUCCEEDED
        results_url = raw.get("results_url")
        return BatchInfo(
            id=raw["id"],
            state="ended" if ended else "in_progress",
            provider_state=status,
            ending=ending,
            request_count=sum(counts.values()),
            counts=counts,
            created_at=parse_timestamp(raw.get("created_at")),
            results_ref=None if raw.get("archived_at") else (results_url if isinstance(results_url, str) else None),
        )

    # ------------------------------------------------------------------ results

    def iter_results(self, batch: BatchInfo) -> Iterator[ItemResult]:
        """Stream ``results_url`` line by line (only from our own API host)."""
        url = batch.results_ref
        if not url:
            batch = self.get_batch(batch.id)
            url = batch.results_ref
        if not url:
            if batch.state != "ended":
                raise TransientError(f"batch {batch.id} has not ended: no results yet", provider=self.name)
            raise ResultsUnavailable(f"results of batch {batch.id} are archived or gone", provider=self.name)
        if not urlsplit(url).scheme:
            url = self._t.url(url)
        if not self._t.same_origin(url):
            raise PermanentError(
                f"results_url of batch {batch.id} is on another host ({urlsplit(url).hostname}); "
                "refusing to send the API key there",
                provider=self.name,
            )
        return self._stream(batch.id, url)

    def _stream(self, batch_id: str, url: str) -> Iterator[ItemResult]:
        try:
            resp = self._t.open_stream(url)
        except PermanentError as exc:
            if exc.status in (404, 410):
                raise exc.as_(
                    ResultsUnavailable, f"results of batch {batch_id} are no longer available ({exc.message})"
                ) from None
            raise
        for line in self._t.stream_lines(resp):
            if not line.strip():
                continue  # the API sends none; tolerate them anyway
            item = parse_result_line(line)
            if item is not None:
                yield item


def parse_result_line(line: bytes) -> ItemResult | None:
    """One results JSONL line → ItemResult; a bad line is errored if its custom_id is readable."""
    try:
        obj = json.loads(line)
    except ValueError:
        match = _CUSTOM_ID_IN_LINE.search(line)
        if match:
            return ItemResult(match.group(1).decode(), ItemStatus.ERRORED, error="malformed_result: line is not valid JSON")
        log.warning("skipping an unreadable anthropic result line (%d bytes)", len(line))
        return None
    cid = obj.get("custom_id") if isinstance(obj, dict) else None
    if not isinstance(cid, str) or not cid:
        log.warning("skipping an anthropic result line without custom_id (%d bytes)", len(line))
        return None
    result = obj.get("result")
    kind = result.get("type") if isinstance(result, dict) else None
    if kind == "succeeded":
        return _succeeded(cid, result.get("message"))
    if kind == "errored":
        outer = result.get("error")
        inner = outer.get("error") if isinstance(outer, dict) and isinstance(outer.get("error"), dict) else outer
        if isinstance(inner, dict):
            etype = inner.get("type") or "error"
            return ItemResult(cid, ItemStatus.ERRORED, error=f"{etype}: {inner.get('message') or ''}".rstrip(": "))
        return ItemResult(cid, ItemStatus.ERRORED, error="error: (no detail)")
    if kind in ("expired", "canceled"):
        return ItemResult(cid, ItemStatus(kind))
    return ItemResult(cid, ItemStatus.ERRORED, error=f"malformed_result: unknown result type {kind!r}")


def _succeeded(cid: str, message: Any) -> ItemResult:
    if not isinstance(message, dict):
        return ItemResult(cid, ItemStatus.ERRORED, error="malformed_result: succeeded without a message")
    content = message.get("content")
    text = "".join(
        block["text"]
        for block in (content if isinstance(content, list) else ())
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )
    usage = obj_at(message, "usage")
    input_tokens = to_count(
        to_count(usage.get("input_tokens"))
        + to_count(usage.get("cache_creation_input_tokens"))
        + to_count(usage.get("cache_read_input_tokens"))
    )
    output_tokens = to_count(usage.get("output_tokens"))
    stop = message.get("stop_reason")
    if stop == "refusal" or not text:
        reason = "refusal" if stop == "refusal" else f"empty_reply (stop_reason {stop})"
        return ItemResult(cid, ItemStatus.ERRORED, error=reason, input_tokens=input_tokens, output_tokens=output_tokens)
    return ItemResult(cid, ItemStatus.SUCCEEDED, text=text, input_tokens=input_tokens, output_tokens=output_tokens)
