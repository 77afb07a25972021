"""Gemini Batch API (and the Files API for large inputs) over ``requests``.

Wire format: shared/provider-apis.md §2. The key travels only in the ``x-goog-api-key``
header, never in a URL; the resumable-upload session URL authorises itself and gets no key.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..errors import AmbiguousCreate, PermanentError, ResultsUnavailable, TransientError
from ..http import read_body
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
from .gemini_results import parse_file_line, parse_inline_entry, parse_response  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from typing import Unpack

    import requests

log = logging.getLogger("seobatch.providers.gemini")

#: Inline create bodies must stay under 20 MB (batch-api page); above that, file mode.
INLINE_LIMIT_BYTES = 20_000_000
#: Per-batch limits the stages plan jobs from: an input file holds up to 2 GB; the
#: request cap is ours (results stay a manageable download).
MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 2_000_000_000
#: The SDK's resumable-upload chunk size.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
ENDINGS = {
    "BATCH_STATE_SUCCEEDED": Ending.SUCCEEDED,
    "BATCH_STATE_FAILED": Ending.FAILED,
    "BATCH_STATE_CANCELLED": Ending.CANCELED,
    "BATCH_STATE_EXPIRED": Ending.EXPIRED,
}
#: JSON mode's schema (OpenAPI subset, as ``responseSchema`` takes it).
SEO_SCHEMA = {
    "type": "OBJECT",
    "properties": {"title": {"type": "STRING"}, "meta_description": {"type": "STRING"}},
    "required": ["title", "meta_description"],
    "propertyOrdering": ["title", "meta_description"],
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class _FileSlice:
    """``length`` bytes of an open file from ``offset``, read in small blocks by http.client,
    so an 8 MiB upload chunk is never a Python bytes object."""

    def __init__(self, f: IO[bytes], offset: int, length: int) -> None:
        self._f, self._pos, self._left = f, offset, length
        self._len = length

    def __len__(self) -> int:
        return self._len

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        self._f.seek(self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        self._left -= len(data)
        return data


class GeminiBatches(BatchClient):
    """``BatchProvider`` for the Gemini Batch API (Generative Language API)."""

    name = "gemini"
    #: Batches carry our display name (unique per job): reconciliation matches on it.
    matches_by_name = True
    key_variable = "GEMINI_API_KEY"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://generativelanguage.googleapis.com",
        session: requests.Session | None = None,
        *,
        api_version: str = "v1beta",
        inline_limit_bytes: int = INLINE_LIMIT_BYTES,
        upload_chunk_bytes: int = UPLOAD_CHUNK_BYTES,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(api_key, base_url, session, headers={"x-goog-api-key": api_key}, **options)
        self.api_version = api_version.strip("/")
        self.inline_limit_bytes = inline_limit_bytes
        self.upload_chunk_bytes = upload_chunk_bytes

    def __repr__(self) -> str:
        return f"<GeminiBatches {self._t.base_url} {self.api_version}>"

    def _url(self, path: str) -> str:
        return self._t.url(f"/{self.api_version}/{path.lstrip('/')}")

    @staticmethod
    def _name(batch_id: str) -> str:
        """``batches/<id>`` with the id escaped for a path."""
        bare = batch_id.removeprefix("batches/")
        return f"batches/{quote(bare, safe='-_.')}"

    # ------------------------------------------------------------------ requests

    def build_request(self, custom_id: str, prompt: Prompt, *, model: str, max_tokens: int) -> BatchRequest:
        config: dict[str, Any] = {
            "maxOutputTokens": max_tokens,
            "responseMimeType": "application/json",
            "responseSchema": SEO_SCHEMA,
        }
        if model.removeprefix("models/").startswith("gemini-2.5-flash"):
            # 2.5 Flash thinks by default and thoughts count against maxOutputTokens: a
            # short JSON object needs none, and thinking would be billed as output.
            config["thinkingConfig"] = {"thinkingBudget": 0}
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt.user}]}]}
        if prompt.system.strip():
            body["systemInstruction"] = {"parts": [{"text": prompt.system}]}
        body["generationConfig"] = config
        return BatchRequest(custom_id=custom_id, body=body)

    def _spool_jsonl(self, requests_: Iterable[BatchRequest], out: IO[bytes]) -> tuple[int, int, int]:
        """Write the JSONL input file; return (count, file bytes, inline item bytes)."""
        seen: set[str] = set()
        size = inline = 0
        for req in requests_:
            key = req.custom_id
            if not isinstance(key, str) or not key:
                raise PermanentError(f"invalid request key {key!r}", provider=self.name)
            if key in seen:
                raise PermanentError(f"request key {key!r} appears twice in one batch", provider=self.name)
            seen.add(key)
            kj = _dumps(key).encode()
            body = req.body_json().encode()
            line = b'{"key":' + kj + b',"request":' + body + b"}\n"
            out.write(line)
            size += len(line)
            # {"request":<body>,"metadata":{"key":<kj>}} plus the separating comma
            inline += 32 + len(kj) + len(body) + 1
        if not seen:
            raise PermanentError("a batch needs at least one request", provider=self.name)
        out.flush()
        return len(seen), size, inline

    def _inline_body(self, jsonl: IO[bytes], out: IO[bytes], display_name: str) -> None:
        jsonl.seek(0)
        out.write(b'{"batch":{"displayName":' + _dumps(display_name).encode())
        out.write(b',"inputConfig":{"requests":{"requests":[')
        for i, line in enumerate(jsonl):
            obj = json.loads(line)
            item = {"request": obj["request"], "metadata": {"key": obj["key"]}}
            out.write((b"," if i else b"") + _dumps(item).encode())
        out.write(b"]}}}}")
        out.flush()

    # ------------------------------------------------------------------ batches

    def create_batch(self, requests: Iterable[BatchRequest], *, model: str, display_name: str) -> BatchInfo:
        """Inline below ``inline_limit_bytes``, else upload a JSONL file and create from it.

        Only the create POST is ambiguous (AmbiguousCreate on timeout/drop/5xx); a failed
        upload is retried from the start, since an orphan input file costs nothing.
        """
        model_path = f"models/{quote(model.removeprefix('models/'), safe='-_.')}:batchGenerateContent"
        url = self._url(model_path)
        with tempfile.TemporaryFile(prefix="seobatch-gemini-") as jsonl:
            count, size, inline = self._spool_jsonl(requests, jsonl)
            overhead = 80 + len(_dumps(display_name).encode())
            if inline + overhead <= self.inline_limit_bytes:
                log.info("creating gemini batch %s inline (%d requests)", display_name, count)
                with tempfile.TemporaryFile(prefix="seobatch-gemini-inline-") as body:
                    self._inline_body(jsonl, body, display_name)
                    raw = self._t.call_json(
                        "POST", url, data=body, headers={"content-type": "application/json"}, create=True
                    )
            else:
                log.info("creating gemini batch %s from a %d-byte file (%d requests)", display_name, size, count)
                file_name = self._upload(jsonl, size, display_name)
                batch = {"displayName": display_name, "inputConfig": {"fileName": file_name}}
                raw = self._t.call_json("POST", url, json_body={"batch": batch}, create=True)
        if not isinstance(raw, dict) or not (raw.get("name") or obj_at(raw, "metadata").get("name")):
            raise AmbiguousCreate("create answered without a batch name; the batch may exist", provider=self.name)
        info = self._info(raw)
        return info if info.display_name else replace(info, display_name=display_name)

    def _upload(self, f: IO[bytes], size: int, display_name: str) -> str:
        """Resumable upload of ``f`` (``size`` bytes) in chunks read from disk; returns ``files/…``."""

        def attempt() -> dict[str, Any]:
            start = self._t.send(
                "POST",
                self._t.url(f"/upload/{self.api_version}/files"),
                headers={
                    "X-Goog-Upload-Protocol": "resumable",
                    "X-Goog-Upload-Command": "start",
                    "X-Goog-Upload-Header-Content-Length": str(size),
                    "X-Goog-Upload-Header-Content-Type": "application/jsonl",
                },
                json_body={
                    "file": {"display_name": display_name, "mime_type": "application/jsonl", "size_bytes": size}
                },
            )
            upload_url = start.headers.get("x-goog-upload-url")
            read_body(start, deadline=self._t.body_deadline, limit=1 << 20)
            if not upload_url:
                raise TransientError("upload start returned no X-Goog-Upload-URL", provider=self.name)
            if not self._t.same_origin(upload_url):
                raise PermanentError(
                    f"upload URL is on another host ({urlsplit(upload_url).hostname}); refusing to send data there",
                    provider=self.name,
                )
            offset = 0
            while True:
                length = min(self.upload_chunk_bytes, size - offset)
                last = offset + length >= size
                resp = self._t.send(
                    "POST",
                    upload_url,
                    headers={
                        "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                        "X-Goog-Upload-Offset": str(offset),
                    },
                    data=_FileSlice(f, offset, length),  # type: ignore[arg-type]
                    auth=False,  # the session URL authorises itself; the key never goes there
                )
                status = (resp.headers.get("x-goog-upload-status") or "").lower()
                raw = read_body(resp, deadline=self._t.body_deadline, provider=self.name)
                offset += length
                if not last:
                    if status != "active":
                        raise TransientError(
                            f"upload chunk at {offset - length} answered status {status!r}", provider=self.name
                        )
                    continue
                if status != "final":
                    raise TransientError(f"upload finalize answered status {status!r}", provider=self.name)
                try:
                    file = json.loads(raw)["file"]
                except (ValueError, KeyError, TypeError):
                    raise TransientError("upload finalize answered without a file object", provider=self.name) from None
                if not isinstance(file, dict) or not file.get("name"):
                    raise TransientError("upload finalize answered without a file name", provider=self.name)
                return file

        file = self._t.retrying(attempt, "gemini upload")
        return self._wait_active(file)

    def _wait_active(self, file: dict[str, Any], tries: int = 30) -> str:
        """Batch inputs must be ACTIVE; JSONL normally is at once, else poll briefly."""
        name = str(file["name"])
        for i in range(tries):
            state = file.get("state") or "ACTIVE"
            if state == "ACTIVE":
                return name
            if state == "FAILED":
                err = obj_at(file, "error")
                raise PermanentError(f"uploaded input {name} failed: {err.get('message', '')}", provider=self.name)
            self._t.sleep(min(2.0 ** i, 10.0))
            file = self._t.call_json("GET", self._url(name))
        raise TransientError(f"uploaded input {name} is still {file.get('state')}", provider=self.name)

    def get_batch(self, batch_id: str) -> BatchInfo:
        return self._info(self._get_operation(batch_id))

    def _get_operation(self, batch_id: str) -> dict[str, Any]:
        op = self._t.call_json("GET", self._url(self._name(batch_id)))
        if not isinstance(op, dict):
            raise TransientError("unexpected batch operation", provider=self.name)
        return op

    def find_batches(self, *, display_name: str, created_after: datetime, request_count: int) -> list[BatchInfo]:
        """The batches named ``display_name`` created at/after ``created_after``, newest first.

        Our names are unique per job, so normally there is one; the whole list is read.
        """
        cutoff = as_naive_utc(created_after)
        params: dict[str, Any] = {"pageSize": 100}
        tokens: set[str] = set()
        found: list[BatchInfo] = []
        while True:
            page = self._t.call_json("GET", self._url("batches"), params=params)
            page = page if isinstance(page, dict) else {}
            ops = page.get("operations")
            for op in ops if isinstance(ops, list) else ():
                if obj_at(op, "metadata").get("displayName") != display_name:
                    continue
                info = self._info(op)
                if info.created_at is not None and info.created_at < cutoff:
                    continue
                if info.request_count not in (None, 0, request_count):
                    log.warning(
                        "gemini batch %s has %s requests, expected %d", info.id, info.request_count, request_count
                    )
                found.append(info)
            token = page.get("nextPageToken")
            if not token or token in tokens:
                found.sort(key=lambda b: b.created_at or cutoff, reverse=True)
                return found
            tokens.add(token)
            params = {"pageSize": 100, "pageToken": token}

    def _request_cancel(self, batch_id: str) -> BatchInfo:
        """Cancel (the reply is ``{}``), then read the batch."""
        self._t.call_json("POST", self._url(f"{self._name(batch_id)}:cancel"), data=b"")
        return self.get_batch(batch_id)

    def _info(self, op: dict[str, Any]) -> BatchInfo:
        md = obj_at(op, "metadata")
        name = op.get("name") or md.get("name")
        if not isinstance(name, str) or not name:
            raise TransientError("unexpected batch operation (no name)", provider=self.name)
        state = str(md.get("state") or "")
        state = state.replace("JOB_STATE_", "BATCH_STATE_")  # defensive: SDK spelling
        error = obj_at(op, "error")
        ended = state in ENDINGS or bool(op.get("done"))
        ending = (ENDINGS.get(state) or (Ending.FAILED if error else Ending.SUCCEEDED)) if ended else None
        stats = obj_at(md, "batchStats")
        total = to_count(stats.get("requestCount"))
        succeeded, failed = to_count(stats.get("successfulRequestCount")), to_count(stats.get("failedRequestCount"))
        pending = to_count(stats.get("pendingRequestCount"))
        counts = {"processing": pending, "succeeded": succeeded, "errored": failed, "canceled": 0, "expired": 0}
        if ending in (Ending.CANCELED, Ending.EXPIRED):
            counts[ending] = max(0, total - succeeded - failed)
            counts["processing"] = 0
        output = obj_at(md, "output") or obj_at(op, "response")
        ref = None
        if output:
            if isinstance(output.get("responsesFile"), str) and output["responsesFile"]:
                ref = output["responsesFile"]
            elif "inlinedResponses" in output:
                ref = "inline"
        message = None
        if error:
            message = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        return BatchInfo(
            id=name,
            state="ended" if ended else "in_progress",
            provider_state=state,
            ending=ending,
            request_count=total or None,
            counts=counts,
            created_at=parse_timestamp(md.get("createTime")),
            display_name=md.get("displayName") if isinstance(md.get("displayName"), str) else None,
            results_ref=ref,
            error=message,
        )

    # ------------------------------------------------------------------ results

    def iter_results(self, batch: BatchInfo) -> Iterator[ItemResult]:
        """The responses file streamed line by line, or the inline responses; joined by key."""
        ref = batch.results_ref
        if ref and ref != "inline":
            yield from self._download(ref)
            return
        op = self._get_operation(batch.id)
        info = self._info(op)
        if info.state != "ended":
            raise TransientError(f"batch {batch.id} has not ended: no results yet", provider=self.name)
        output = obj_at(obj_at(op, "metadata"), "output") or obj_at(op, "response")
        if info.results_ref and info.results_ref != "inline":
            yield from self._download(info.results_ref)
            return
        wrapper = output.get("inlinedResponses")
        entries = wrapper.get("inlinedResponses") if isinstance(wrapper, dict) else wrapper
        if entries is None:
            if info.ending == Ending.SUCCEEDED:
                raise ResultsUnavailable(f"batch {batch.id} ended without output", provider=self.name)
            return  # failed / expired / cancelled before any output: nothing to read
        for entry in entries if isinstance(entries, list) else ():
            item = parse_inline_entry(entry)
            if item is not None:
                yield item

    def _download(self, file_name: str) -> Iterator[ItemResult]:
        bare = quote(file_name.removeprefix("files/"), safe="-_.")
        url = self._url(f"files/{bare}:download")
        try:
            resp = self._t.open_stream(url, params={"alt": "media"})
        except PermanentError as exc:
            if exc.status in (403, 404, 410):
                raise exc.as_(
                    ResultsUnavailable, f"results file {file_name} is no longer available ({exc.message})"
                ) from None
            raise
        for line in self._t.stream_lines(resp):
            if not line.strip():
                continue
            item = parse_file_line(line)
            if item is not None:
                yield item
