"""The Gemini Batch API (``/{v1beta|v1}/…batches…``), as the emulator serves it.

Wire facts follow ``shared/provider-apis.md`` §2: long-running Operation objects with
``BATCH_STATE_*`` states, int64 ``batchStats`` as strings, output under ``metadata.output``
AND top-level ``response``, doubly nested ``requests.requests[]`` and
``inlinedResponses.inlinedResponses[]``, the key in ``x-goog-api-key`` (``?key=`` works
but is counted), an invalid key as 400 ``API_KEY_INVALID``, HTTP 200 only on success.
The Files API lives in ``gemini_files``; error helpers here serve both.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import TYPE_CHECKING, Any

from . import replies
from .contract import Route
from .state import Batch, Item, StoredFile, digest, new_gemini_id, rfc3339
from .wire import Request, Response, iter_lines, sha256_b64

if TYPE_CHECKING:
    from .app import Emulator

NAME = "gemini"
#: The API version segment of every Gemini path, captured as ``v`` (echoed in ``@type`` names).
VERSION_RE = r"(?P<v>v1beta|v1)"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ALREADY_EXISTS", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
DEFAULT_MESSAGES = {
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
KEY_INVALID = "API key not valid. Please pass a valid API key."
NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
          "Please use API Key or other form of API consumer identity to call this API.")
TERMINAL = ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED")


# -- gates the server calls ---------------------------------------------------------------
def decorate(req: Request, resp: Response) -> Response:
    if req.op == "upload" and not any(k.lower() == "x-goog-upload-status" for k, _ in resp.headers):
        resp.headers.append(("X-Goog-Upload-Status", "final"))  # an error ends the upload session
    return resp


def authorize(emu: Emulator, req: Request) -> Response | None:
    if req.op == "upload":
        return None  # the session id in the upload URL authorises the chunks; no key is sent
    key = req.header("x-goog-api-key") or req.arg("key")
    if not key:
        return error(emu, req, 403, NO_KEY)
    if emu.api_key is not None and key != emu.api_key:
        details: list[dict[str, Any]] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": KEY_INVALID},
        ]
        return error(emu, req, 400, KEY_INVALID, details=details)
    return None


def error(emu: Emulator, req: Request, status: int, message: str | None, *, retry_after: float | None = None,
          spend_limit: bool = False, details: list[dict[str, Any]] | None = None,
          status_name: str | None = None) -> Response:
    body: dict[str, Any] = {"code": status, "message": message or DEFAULT_MESSAGES.get(status, "Error"),
                            "status": status_name or STATUS_NAMES.get(status, "UNKNOWN")}
    if status == 429 and details is None:
        details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/batch_requests",
            "quotaId": "BatchRequestsPerMinutePerProject"}]}]
        if retry_after is not None and retry_after > 0 and not spend_limit:
            delay = f"{retry_after:.3f}".rstrip("0").rstrip(".")
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"})
    if details:
        body["details"] = details
    return Response.json({"error": body}, status=status, content_type="application/json; charset=UTF-8")


def too_large(emu: Emulator, req: Request, size: int) -> Response:
    return error(emu, req, 400, f"Request payload size exceeds the limit: {emu.inline_limit_bytes} bytes.")


def ok(obj: Any) -> Response:
    return Response.json(obj, content_type="application/json; charset=UTF-8")


def proto_field(obj: Any, camel: str) -> Any:
    """A proto-JSON field by its camelCase or snake_case name (the server accepts both)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


# -- handlers -----------------------------------------------------------------------------
def create(emu: Emulator, req: Request) -> Response:
    body = req.json(emu.inline_limit_bytes)
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        return error(emu, req, 400, "Invalid JSON payload received. Field 'batch' is required.")
    config = proto_field(batch, "inputConfig")
    if not isinstance(config, dict):
        return error(emu, req, 400, "batch.input_config is required.")
    inline, file_name = proto_field(config, "requests"), proto_field(config, "fileName")
    if (inline is None) == (file_name is None):
        return error(emu, req, 400, "batch.input_config must set exactly one of requests or file_name.")
    model = req.params["model"]
    items: list[Item] = []
    if inline is not None:
        entries = proto_field(inline, "requests")
        if not isinstance(entries, list) or not entries:
            return error(emu, req, 400, "batch.input_config.requests.requests must contain at least one request.")
        for i, entry in enumerate(entries):
            request = proto_field(entry, "request")
            if not isinstance(request, dict):
                return error(emu, req, 400, f"batch.input_config.requests.requests[{i}].request is required.")
            meta = proto_field(entry, "metadata")
            key = str(meta.get("key", i)) if isinstance(meta, dict) else str(i)
            items.append(_item(key, request, model, metadata=meta, obey=emu.store.faults.obey_injections))
    else:
        stored = emu.store.get_file(file_name) if isinstance(file_name, str) else None
        if stored is None:
            bare = str(file_name).removeprefix("files/")
            return error(emu, req, 403, f"You do not have permission to access the File {bare} or it may not exist.")
        for n, line in enumerate(iter_lines(stored.path), start=1):
            try:
                entry = json.loads(line)
                request = proto_field(entry, "request")
                key = entry.get("key")
            except (ValueError, AttributeError):
                entry, request, key = None, None, None
            if not isinstance(request, dict) or key is None:
                items.append(Item(key="" if key is None else str(key), url="", title="", input_tokens=0,
                                  max_tokens=None, model=model,
                                  invalid=f"Line {n} of the input file is not a valid request."))
            else:
                items.append(_item(str(key), request, model, obey=emu.store.faults.obey_injections))
        if not items:
            return error(emu, req, 400, f"The input file {file_name} contains no requests.")
    display_name = proto_field(batch, "displayName") or ""
    created = emu.store.add_batch(
        NAME, f"batches/{new_gemini_id()}", items, model=f"models/{model}", display_name=str(display_name),
        input_file=file_name, api_version=req.params["v"],
    )
    return ok(render(emu, req, created, just_created=True))


def _text(content: Any) -> str:
    parts = proto_field(content, "parts") if isinstance(content, dict) else None
    return "\n".join(p.get("text", "") for p in parts or [] if isinstance(p, dict))


def _item(key: str, request: dict[str, Any], model: str, metadata: Any = None, obey: bool = True) -> Item:
    """What the emulator keeps of one request (injections are looked for only when the
    obey fault can use them: that scan was a quarter of a create's CPU on 2026-11-28, see
    ``scripts/bench.py``'s emulator CPU per stage)."""
    contents = proto_field(request, "contents") or []
    user = "\n".join(_text(c) for c in contents if isinstance(c, dict) and c.get("role", "user") == "user")
    system = _text(proto_field(request, "systemInstruction"))
    max_tokens = proto_field(proto_field(request, "generationConfig") or {}, "maxOutputTokens")
    url, title = replies.page_fields(user)
    return Item(key=key, url=url, title=title, input_tokens=replies.estimate_tokens(system + user),
                max_tokens=(
                    int(max_tokens) if isinstance(max_tokens, (int, str)) and str(max_tokens).isdigit() else None
                ),
                model=str(request.get("model") or model).removeprefix("models/"),
                injection=replies.find_injection(user) if obey else None, metadata=metadata)


def get(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    return batch if isinstance(batch, Response) else ok(render(emu, req, batch))


def list_batches(emu: Emulator, req: Request) -> Response:
    try:
        size = min(1000, max(1, int(req.arg("pageSize") or req.arg("page_size") or 50)))
        token = req.arg("pageToken") or req.arg("page_token")
        after_seq = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else None
    except ValueError:
        return error(emu, req, 400, "Invalid page token or page size.")
    batches = [b for b in emu.store.list_batches(NAME) if after_seq is None or b.seq < after_seq]
    page = batches[:size]
    out: dict[str, Any] = {}
    if page:
        out["operations"] = [render(emu, req, b) for b in page]
    if len(batches) > size:
        out["nextPageToken"] = base64.urlsafe_b64encode(str(page[-1].seq).encode()).decode()
    return ok(out)


def cancel(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    with emu.store.lock:
        if state_of(batch, emu.store.now()) in TERMINAL:
            return error(emu, req, 400, f"Batch {batch.id} is already in a terminal state.",
                         status_name="FAILED_PRECONDITION")
        if not emu.store.faults.gemini_cancel_ignored:
            batch.cancel_at = emu.store.now()
    return ok({})


def delete(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    emu.store.delete_batch(batch.id)
    return ok({})


def _find(emu: Emulator, req: Request) -> Batch | Response:
    batch = emu.store.get_batch(NAME, f"batches/{req.params['id']}")
    return batch if batch is not None else error(emu, req, 404, None)


# -- rendering ----------------------------------------------------------------------------
def end_time(batch: Batch) -> float:
    return batch.cancel_at if batch.cancel_at is not None and batch.cancel_at < batch.ends else batch.ends


def state_of(batch: Batch, now: float) -> str:
    if batch.cancel_at is not None and now >= batch.cancel_at and batch.cancel_at < batch.ends:
        return "BATCH_STATE_CANCELLED"
    if now >= batch.ends:
        return {"expire": "BATCH_STATE_EXPIRED", "fail": "BATCH_STATE_FAILED"}.get(
            batch.outcome or "", "BATCH_STATE_SUCCEEDED")
    if now < batch.created + batch.processing_seconds / 3 or batch.outcome == "stuck":
        return "BATCH_STATE_PENDING"
    return "BATCH_STATE_RUNNING"


def render(emu: Emulator, req: Request, batch: Batch, just_created: bool = False) -> dict[str, Any]:
    now = batch.created if just_created else emu.store.now()
    state = "BATCH_STATE_PENDING" if just_created else state_of(batch, now)
    v = req.params.get("v", batch.api_version)
    done = state in TERMINAL
    updated = end_time(batch) if done else max(batch.created, min(now, batch.created + batch.processing_seconds / 3))
    meta: dict[str, Any] = {
        "@type": f"type.googleapis.com/google.ai.generativelanguage.{v}.GenerateContentBatch",
        "model": batch.model, "displayName": batch.display_name, "name": batch.id,
        "createTime": rfc3339(batch.created), "updateTime": rfc3339(updated),
        "batchStats": _stats(batch, state, now), "state": state,
    }
    if batch.input_file:
        meta["inputConfig"] = {"fileName": batch.input_file}
    op: dict[str, Any] = {"name": batch.id, "metadata": meta}
    if not done:
        return op
    meta["endTime"] = rfc3339(end_time(batch))
    op["done"] = True
    if state == "BATCH_STATE_SUCCEEDED":
        output = _output(emu, req, batch)
        meta["output"] = output
        op["response"] = {"@type": f"type.googleapis.com/google.ai.generativelanguage.{v}.GenerateContentBatchOutput",
                          **output}
    elif state == "BATCH_STATE_FAILED":
        op["error"] = {"code": 13, "message": "Batch processing failed due to an internal error."}
    return op


def _stats(batch: Batch, state: str, now: float) -> dict[str, str]:
    n = len(batch.items)
    failed_total = batch.cache.get("failed")
    if failed_total is None:
        failed_total = batch.cache["failed"] = sum(
            batch.final_outcome(i) in ("errored", "expired") for i in range(n))
    if state == "BATCH_STATE_SUCCEEDED":
        done = n
    elif state in ("BATCH_STATE_PENDING", "BATCH_STATE_EXPIRED", "BATCH_STATE_FAILED"):
        done = 0
    else:
        done = int(n * batch.progress(end_time(batch) if state == "BATCH_STATE_CANCELLED" else now))
    failed = min(done, round(failed_total * done / n)) if n else 0
    counts = {"requestCount": n, "successfulRequestCount": done - failed, "failedRequestCount": failed,
              "pendingRequestCount": n - done if state not in TERMINAL else 0}
    return {k: str(v) for k, v in counts.items() if v}  # int64 → JSON strings; zeros omitted


def _output(emu: Emulator, req: Request, batch: Batch) -> dict[str, Any]:
    if batch.input_file:
        return {"responsesFile": ensure_output_file(emu, batch)}
    inline = batch.cache.get("inline")
    if inline is None:
        inline = batch.cache["inline"] = [_inline(batch, i) for i in batch.result_order()]
    return {"inlinedResponses": {"inlinedResponses": inline}}


def ensure_output_file(emu: Emulator, batch: Batch) -> str:
    """Write the batch's responses file once (streamed to disk) and return its name."""
    with batch.write_lock:
        if batch.output_file is None:
            path = emu.store.new_path("output-")
            with open(path, "wb") as fh:
                buf: list[bytes] = []
                for i in batch.result_order():
                    line = {"key": batch.items[i].key, **result_of(batch, i)}
                    if not line["key"]:
                        del line["key"]
                    buf.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                    if len(buf) >= 256:
                        fh.write(b"".join(buf))
                        buf.clear()
                fh.write(b"".join(buf))
            name = f"files/batch-{batch.id.removeprefix('batches/')}"
            emu.store.add_file(StoredFile(
                name=name, display_name=f"{batch.display_name or batch.id} responses",
                mime_type="application/jsonl", size=os.path.getsize(path), sha256=sha256_b64(path),
                created=emu.store.now(), source="GENERATED", path=path, api_version=batch.api_version))
            batch.output_file = name
        return batch.output_file


def _inline(batch: Batch, index: int) -> dict[str, Any]:
    outcome = result_of(batch, index)
    meta = batch.items[index].metadata
    return {**outcome, "metadata": meta} if meta is not None else outcome


def result_of(batch: Batch, index: int) -> dict[str, Any]:
    """``{"response": GenerateContentResponse}`` or ``{"error": Status}`` for one item."""
    item = batch.items[index]
    outcome = batch.final_outcome(index)
    if outcome == "errored":
        return {"error": {"code": 400, "message": item.invalid} if item.invalid
                else {"code": 500, "message": "Internal error encountered."}}
    if outcome in ("expired", "canceled"):
        return {"error": {"code": 504, "message": "Deadline expired before operation could complete."}}
    kind = outcome if outcome in ("malformed", "obey", *replies.BAD_KINDS) else "ok"
    reply = replies.build_reply(item.url, item.title, kind=kind, injection=item.injection,
                                max_tokens=item.max_tokens, salt=batch.id)
    usage = {"promptTokenCount": item.input_tokens, "candidatesTokenCount": reply.output_tokens,
             "totalTokenCount": item.input_tokens + reply.output_tokens}
    if reply.stop == "refusal":
        candidate: dict[str, Any] = {"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}
        usage = {"promptTokenCount": item.input_tokens, "totalTokenCount": item.input_tokens}
    else:
        candidate = {"content": {"parts": [{"text": reply.text}], "role": "model"},
                     "finishReason": "MAX_TOKENS" if reply.stop == "max_tokens" else "STOP", "index": 0}
    response_id = base64.urlsafe_b64encode(digest(batch.id, item.key, str(index)).to_bytes(8, "big")).decode()
    return {"response": {"candidates": [candidate], "usageMetadata": usage,
                         "modelVersion": item.model, "responseId": response_id.rstrip("=")}}


_BATCH = VERSION_RE + r"/batches/(?P<id>[^/:]+)"  # one batch: batches/{id}
ROUTES: list[Route] = [
    ("POST", "/" + VERSION_RE + r"/models/(?P<model>[^/:]+):batchGenerateContent", "create", create),
    ("GET", "/" + VERSION_RE + "/batches", "list", list_batches),
    ("GET", "/" + _BATCH, "get", get),
    ("DELETE", "/" + _BATCH, "delete", delete),
    ("POST", "/" + _BATCH + ":cancel", "cancel", cancel),
]
