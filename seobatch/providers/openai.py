"""OpenAI Batch API (Files + Batches) over ``requests`` (wire format: shared/provider-apis-openai.md §1).

A batch is three calls: upload the JSONL input (multipart, streamed from a spooled file),
create the batch over it (``metadata`` carries our per-job display name, so a lost create
reply is reconciled exactly), and, once it ended, read the output and error files line
by line. What this client refuses to believe (§0 of the reference):

- "``error`` is null" is not success: a line succeeded only with ``response.status_code``
  200; a 4xx/5xx line is errored with the endpoint's message;
- a ``completed`` batch may have no output file, only an error file;
- ``cancelling`` is not terminal (in-flight requests may still finish and be billed);
- ``expired`` / ``cancelled`` batches hold paid results: both files are read, and the
  unfinished lines (``batch_expired`` / ``batch_cancelled``) are expired / canceled;
- a ``failed`` batch failed validation: its ``errors.data[]`` (with line numbers) is the
  reason the job shows.

Batches cannot be deleted; their files can, and are (``delete_files``) once the results
are saved.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ..errors import AmbiguousCreate, PermanentError, ProviderError, ResultsUnavailable, TransientError
from ..jobmeta import ItemStatus
from ..models import CUSTOM_ID_RE
from .anthropic import JSON_INSTRUCTION
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

log = logging.getLogger("seobatch.providers.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENDPOINT = "/v1/chat/completions"
#: Per-batch limits (guide, "Rate limits"): the stages plan jobs from these
#: (``stages._common.batch_limits``); 200 MB counted in decimal, the safe reading.
MAX_REQUESTS = 50_000
MAX_BODY_BYTES = 200_000_000
#: The metadata key that carries our display name (reconciliation matches on it).
META_KEY = "seobatch_job"
ENDINGS = {"completed": Ending.SUCCEEDED, "failed": Ending.FAILED, "expired": Ending.EXPIRED,
           "cancelled": Ending.CANCELED}
#: The reply object for structured outputs; ``strict`` needs every key required and
#: no others allowed.
SEO_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "meta_description": {"type": "string"}},
    "required": ["title", "meta_description"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "seo_meta", "strict": True, "schema": SEO_SCHEMA}}
#: OpenAI's reasoning models (o1, o3, o4-mini, …) and the gpt-5 family take
#: ``developer`` instructions; older chat models take ``system``.
_REASONING = re.compile(r"^(?:o[1-9](?:-|$)|gpt-5)")
_CUSTOM_ID_IN_LINE = re.compile(rb'"custom_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
#: Line errors that mean "never ran": not the page's fault, no attempt charged.
_UNFINISHED = {"batch_expired": ItemStatus.EXPIRED, "batch_cancelled": ItemStatus.CANCELED,
               "request_timeout": ItemStatus.EXPIRED}
#: How many validation errors a failed batch's reason names.
MAX_REASONS = 5


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING.match(model))


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _timestamp(value: object) -> datetime | None:
    """Unix seconds (OpenAI) or an ISO string (Azure's older API) as naive UTC."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_timestamp(value)


class OpenAIBatches(BatchClient):
    """``BatchProvider`` for the OpenAI Batch API."""

    name = "openai"
    #: Batches carry our display name in ``metadata``: reconciliation matches on it.
    matches_by_name = True
    #: Batches per list page (the API's maximum).
    list_page_size = 100
    key_variable = "OPENAI_API_KEY"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,  # includes /v1, as the SDK's does
        session: requests.Session | None = None,
        *,
        max_requests: int = MAX_REQUESTS,
        max_body_bytes: int = MAX_BODY_BYTES,
        key_variable: str | None = None,
        metadata: bool = True,
        response_format: bool = True,
        **options: Unpack[TransportOptions],
    ) -> None:
        # A compatible endpoint (SEOBATCH_COMPAT_ENDPOINTS) names its own key variable and
        # may lack metadata (then reconciliation matches on the request count, as for
        # Anthropic) or response_format (then the prompt asks for the JSON object).
        if key_variable:
            self.key_variable = key_variable
        self.matches_by_name = metadata
        self.response_format = response_format
        super().__init__(api_key, base_url, session, headers={"Authorization": f"Bearer {api_key}"}, **options)
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes

    # ------------------------------------------------------------------ requests

    def build_request(self, custom_id: str, prompt: Prompt, *, model: str, max_tokens: int) -> BatchRequest:
        messages: list[dict[str, str]] = []
        system = prompt.system if self.response_format else prompt.system + JSON_INSTRUCTION
        if system.strip():
            messages.append({"role": "developer" if is_reasoning_model(model) else "system", "content": system})
        messages.append({"role": "user", "content": prompt.user})
        # max_completion_tokens, not max_tokens: reasoning models reject the latter, and in
        # a batch that 400 would only show a day later, once per page.
        body: dict[str, Any] = {"model": model, "messages": messages, "max_completion_tokens": max_tokens}
        if self.response_format:
            body["response_format"] = RESPONSE_FORMAT
        if is_reasoning_model(model):
            # Reasoning tokens count against max_completion_tokens and are billed as
            # output; a short JSON object needs little. "low" is the one effort every
            # reasoning model accepts.
            body["reasoning_effort"] = "low"
        return BatchRequest(custom_id=custom_id, body=body)

    def _spool_upload(self, requests_: Iterable[BatchRequest], out: IO[bytes], boundary: str,
                      filename: str) -> tuple[int, int]:
        """Write the multipart upload body (purpose, then the JSONL file) to ``out``.

        Returns (requests, JSONL bytes). One line at a time: the input never sits in memory.
        """
        marker = boundary.encode()
        out.write(b"--" + marker + b'\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n')
        out.write(b"--" + marker + b'\r\nContent-Disposition: form-data; name="file"; filename="'
                  + filename.encode() + b'"\r\nContent-Type: application/jsonl\r\n\r\n')
        seen: set[str] = set()
        size = 0
        head = b'","method":"POST","url":"' + ENDPOINT.encode() + b'","body":'
        for req in requests_:
            cid = req.custom_id
            if not isinstance(cid, str) or not CUSTOM_ID_RE.match(cid):
                raise PermanentError(f"custom_id {cid!r} must be 1-64 letters, digits, '_' or '-'", provider=self.name)
            if cid in seen:
                raise PermanentError(f"custom_id {cid!r} appears twice in one batch", provider=self.name)
            seen.add(cid)
            if len(seen) > self.max_requests:
                raise PermanentError(f"a batch holds at most {self.max_requests} requests: split the job",
                                     provider=self.name)
            line = b'{"custom_id":"' + cid.encode() + head + req.body_json().encode() + b"}\n"
            size += len(line)
            if size > self.max_body_bytes:
                raise PermanentError(f"the batch input file exceeds {self.max_body_bytes} bytes: split the job",
                                     provider=self.name)
            if marker in line:  # 128 random bits: never, but a body must not end the part early
                raise PermanentError("a request contains the multipart boundary", provider=self.name)
            out.write(line)
        if not seen:
            raise PermanentError("a batch needs at least one request", provider=self.name)
        out.write(b"\r\n--" + marker + b"--\r\n")
        out.flush()
        return len(seen), size

    # ------------------------------------------------------------------ batches

    def create_batch(self, requests: Iterable[BatchRequest], *, model: str, display_name: str) -> BatchInfo:
        """Upload the input file (retried: an orphan file costs nothing), then create once.

        The create is ambiguous on a timeout, a dropped reply or a 5xx (AmbiguousCreate; the
        caller reconciles by ``metadata``); 408/409/429 prove it was refused and are retried.
        """
        filename = _SAFE_NAME.sub("_", display_name)[:100] + ".jsonl"
        boundary = "seobatch-" + secrets.token_hex(16)
        with tempfile.TemporaryFile(prefix="seobatch-openai-") as body:
            count, size = self._spool_upload(requests, body, boundary, filename)
            log.info("uploading openai batch input %s (%d requests, %d bytes)", display_name, count, size)
            file = self._t.call_json(
                "POST", self._t.url("/files"), data=body,
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )
        file_id = file.get("id") if isinstance(file, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise TransientError("the upload answered without a file id", provider=self.name)
        if file.get("status") == "error":
            raise PermanentError(f"uploaded input {file_id} was refused: {file.get('status_details') or ''}",
                                 provider=self.name)
        create: dict[str, Any] = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
        if self.matches_by_name:
            create["metadata"] = {META_KEY: display_name, "seobatch_model": model[:512]}
        try:
            raw = self._t.call_json("POST", self._t.url("/batches"), json_body=create, create=True)
        except AmbiguousCreate:
            raise  # the batch may exist and read this file: keep it
        except ProviderError:
            self._delete_file(file_id)  # refused for sure: nothing uses the file
            raise
        if not isinstance(raw, dict) or not raw.get("id"):
            raise AmbiguousCreate("create answered without a batch id; the batch may exist", provider=self.name)
        info = self._info(raw)
        return info if info.display_name else replace(info, display_name=display_name)

    def _batch_url(self, batch_id: str, suffix: str = "") -> str:
        return self._t.url(f"/batches/{quote(batch_id, safe='')}{suffix}")

    def get_batch(self, batch_id: str) -> BatchInfo:
        return self._info(self._t.call_json("GET", self._batch_url(batch_id)))

    def find_batch(self, *, display_name: str, created_after: datetime, request_count: int) -> BatchInfo | None:
        """The newest of ``find_batches``, or None."""
        found = self.find_batches(display_name=display_name, created_after=created_after, request_count=request_count)
        return found[0] if found else None

    def find_batches(self, *, display_name: str, created_after: datetime, request_count: int) -> list[BatchInfo]:
        """The batches whose metadata names ``display_name``, created at/after ``created_after``,
        newest first.

        ``GET /batches`` has no metadata filter, so pages are read (``after`` = the last id
        of a page, as the SDK does). The order is not documented; paging stops at a page
        whose every batch is older than the window (newest first in practice).
        """
        cutoff = as_naive_utc(created_after)
        params: dict[str, Any] = {"limit": self.list_page_size}
        seen: set[str] = set()
        found: list[BatchInfo] = []
        while True:
            page = self._t.call_json("GET", self._t.url("/batches"), params=params)
            data = page.get("data") if isinstance(page, dict) else None
            data = [raw for raw in data if isinstance(raw, dict)] if isinstance(data, list) else []
            older = 0
            for raw in data:
                info = self._info(raw)
                if info.created_at is not None and info.created_at < cutoff:
                    older += 1
                    continue
                if self.matches_by_name and info.display_name != display_name:
                    continue
                if not self.matches_by_name and info.request_count not in (None, request_count):
                    continue
                if info.request_count not in (None, request_count):
                    log.warning("openai batch %s has %s requests, expected %d", info.id, info.request_count,
                                request_count)
                found.append(info)
            last = data[-1].get("id") if data else None
            if not page.get("has_more") or not isinstance(last, str) or last in seen or older == len(data):
                found.sort(key=lambda b: b.created_at or cutoff, reverse=True)
                return found
            seen.add(last)
            params = {"limit": self.list_page_size, "after": last}

    def _request_cancel(self, batch_id: str) -> BatchInfo:
        """The reply is normally ``cancelling`` (still in progress); an ended batch is
        refused (400 or 409: not documented) and ``cancel_batch`` returns it as it is."""
        return self._info(self._t.call_json("POST", self._batch_url(batch_id, "/cancel"), data=b""))

    def delete_files(self, batch: BatchInfo) -> None:
        """Delete the batch's input, output and error files (its results are saved).

        Only an ended batch: a running one still reads its input, and a ``cancelling``
        one may still write output."""
        if batch.state != "ended":
            return
        for file_id in _files(batch):
            if file_id:
                self._delete_file(file_id)

    def _delete_file(self, file_id: str) -> None:
        try:
            self._t.call_json("DELETE", self._t.url(f"/files/{quote(file_id, safe='')}"))
        except PermanentError as exc:
            if exc.status != 404:  # already gone: nothing to do
                raise

    def _info(self, raw: Any) -> BatchInfo:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise TransientError("unexpected batch object (no id)", provider=self.name)
        status = str(raw.get("status") or "").lower()  # "Validating" on Azure's older API
        ending = ENDINGS.get(status)
        rc = obj_at(raw, "request_counts")
        total, completed, failed = (to_count(rc.get(k)) for k in ("total", "completed", "failed"))
        rest = max(0, total - completed - failed)
        counts = {"processing": 0 if ending else rest, "succeeded": completed, "errored": failed,
                  "canceled": rest if ending == Ending.CANCELED else 0,
                  "expired": rest if ending == Ending.EXPIRED else 0}
        meta = obj_at(raw, "metadata")
        name = meta.get(META_KEY)
        files = [_str(raw.get(k)) for k in ("input_file_id", "output_file_id", "error_file_id")]
        return BatchInfo(
            id=raw["id"],
            state="ended" if ending else "in_progress",
            provider_state=status,
            ending=ending,
            request_count=total or None,
            counts=counts,
            created_at=_timestamp(raw.get("created_at")),
            display_name=name if isinstance(name, str) else None,
            results_ref=",".join(files),
            error=_errors_text(raw.get("errors")) if ending == Ending.FAILED else None,
        )

    # ------------------------------------------------------------------ results

    def iter_results(self, batch: BatchInfo) -> Iterator[ItemResult]:
        """The output file, then the error file, each streamed line by line (in whatever
        order the lines come; the caller joins on custom_id). Either file may not exist."""
        if batch.state != "ended" or batch.results_ref is None:
            batch = self.get_batch(batch.id)
        if batch.state != "ended":
            raise TransientError(f"batch {batch.id} has not ended: no results yet", provider=self.name)
        return self._stream(batch)

    def _stream(self, batch: BatchInfo) -> Iterator[ItemResult]:
        _, output, errors = _files(batch)
        for file_id in (output, errors):
            if file_id:
                yield from self._download(file_id)

    def _download(self, file_id: str) -> Iterator[ItemResult]:
        url = self._t.url(f"/files/{quote(file_id, safe='')}/content")
        try:
            resp = self._t.open_stream(url)
        except PermanentError as exc:
            if exc.status in (403, 404, 410):
                raise exc.as_(
                    ResultsUnavailable, f"results file {file_id} is no longer available ({exc.message})"
                ) from None
            raise
        blank = 0
        for line in self._t.stream_lines(resp):
            if not line.strip():
                blank += 1
                continue
            item = parse_result_line(line)
            if item is not None:
                yield item
        if blank > 1:  # a trailing newline is normal; more is worth a line in the log
            log.info("openai results file %s had %d blank lines", file_id, blank)


def _files(batch: BatchInfo) -> tuple[str, str, str]:
    parts = (batch.results_ref or "").split(",")
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _errors_text(errors: Any) -> str:
    """``errors.data[]`` of a failed batch as one reason: ``line 7: invalid_json_line: …``."""
    data = errors.get("data") if isinstance(errors, dict) else None
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    if not entries:
        return "failed (no reason given)"
    parts = []
    for e in entries[:MAX_REASONS]:
        where = f"line {e['line']}: " if isinstance(e.get("line"), int) else ""
        parts.append(f"{where}{e.get('code') or 'error'}: {e.get('message') or ''}".rstrip(": "))
    more = f" (and {len(entries) - MAX_REASONS} more)" if len(entries) > MAX_REASONS else ""
    return "; ".join(parts) + more


def parse_result_line(line: bytes) -> ItemResult | None:
    """One output/error file line → ItemResult. Success only with status_code 200."""
    try:
        obj = json.loads(line)
    except ValueError:
        match = _CUSTOM_ID_IN_LINE.search(line)
        if match:
            return ItemResult(match.group(1).decode(), ItemStatus.ERRORED,
                              error="malformed_result: line is not valid JSON")
        log.warning("skipping an unreadable openai result line (%d bytes)", len(line))
        return None
    cid = obj.get("custom_id") if isinstance(obj, dict) else None
    if not isinstance(cid, str) or not cid:
        log.warning("skipping an openai result line without custom_id (%d bytes)", len(line))
        return None
    error = obj.get("error")
    response = obj.get("response")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        if code in _UNFINISHED:
            return ItemResult(cid, _UNFINISHED[code], error=code)
        return ItemResult(cid, ItemStatus.ERRORED, error=f"{code}: {error.get('message') or ''}".rstrip(": "))
    if not isinstance(response, dict):
        return ItemResult(cid, ItemStatus.ERRORED, error="malformed_result: neither a response nor an error")
    status = response.get("status_code")
    body = obj_at(response, "body")
    if status != 200:
        inner = obj_at(body, "error")
        kind = inner.get("type") or inner.get("code") or "error"
        reason = f"{kind} (HTTP {status}): {inner.get('message') or ''}".rstrip(": ")
        return ItemResult(cid, ItemStatus.ERRORED, error=reason)
    return _succeeded(cid, body)


def _succeeded(cid: str, body: dict[str, Any]) -> ItemResult:
    usage = obj_at(body, "usage")
    # Reasoning tokens are inside completion_tokens, and billed as output.
    input_tokens, output_tokens = to_count(usage.get("prompt_tokens")), to_count(usage.get("completion_tokens"))

    def errored(reason: str) -> ItemResult:
        return ItemResult(cid, ItemStatus.ERRORED, error=reason, input_tokens=input_tokens, output_tokens=output_tokens)

    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None:
        return errored("malformed_result: a 200 without choices")
    message = obj_at(choice, "message")
    finish = choice.get("finish_reason")
    if message.get("refusal"):
        return errored("refusal")
    if finish == "content_filter":
        return errored("content_filter")
    text = message.get("content")
    if not isinstance(text, str) or not text:
        return errored(f"empty_reply (finish_reason {finish})")
    return ItemResult(cid, ItemStatus.SUCCEEDED, text=text, input_tokens=input_tokens, output_tokens=output_tokens)
