"""The OpenAI Batches API (``/v1/batches…``), as the emulator serves it.

The Files API (``/v1/files…``) lives in ``openai_files``; the gates and error helpers here
serve both. Wire facts follow ``shared/provider-apis-openai.md`` §1: Bearer auth,
``x-request-id`` on every reply, integer Unix timestamps, ``{"error": {message, type, param,
code}}`` errors, list pages with ``has_more`` and ``after``.

The traps a client must survive (§0) are what the emulator does by default:

- a bad input file is accepted at upload and create; the batch is ``validating`` and then
  ``failed`` with line-numbered ``errors.data[]`` (and no files);
- results are not in input order; requests the model endpoint rejected are in the
  *error* file with ``response.status_code`` 4xx/5xx and ``"error": null``;
- a ``completed`` batch whose every request failed has ``output_file_id: null``;
- cancel answers ``cancelling``; ``cancelled`` comes later, with the finished requests in
  the output file and the rest in the error file as ``batch_cancelled``; an ``expired``
  batch keeps its finished half the same way (``batch_expired``); ``request_counts``
  never count the unfinished requests.

A batch's timeline over its processing time p: validating for the first tenth, then
in_progress, finalizing for the last tenth, then completed (or expired / failed).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from . import replies
from .state import Batch, Item, StoredFile, digest, new_openai_id
from .wire import Request, Response

NAME = "openai"
ENDPOINTS = (
    "/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos",
)
STATUSES = ("validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled")
TERMINAL = ("failed", "completed", "expired", "cancelled")
MAX_REQUESTS = 50_000
#: Reasoning models reject ``max_tokens`` (trap 15): in a batch, one 400 line per request.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
ERROR_TYPES = {
    400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
    404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
    422: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error",
    502: "server_error", 503: "server_error", 504: "server_error",
}
DEFAULT_MESSAGES = {
    401: "Incorrect API key provided.", 403: "You are not allowed to sample from this model",
    404: "Not found", 409: "Conflict", 429: "Rate limit reached for requests",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.", 503: "The engine is currently overloaded, please try again later",
    504: "Gateway timeout.",
}
_RETRY_HINT_STATUSES = (429, 503)
_VALIDATE_SHARE = 0.1  # of processing time spent validating, and finalizing
_REFUSAL = "I'm sorry, but I can't help with that request."


# -- gates the server calls ---------------------------------------------------------------
def decorate(req: Request, resp: Response) -> Response:
    resp.headers.append(("x-request-id", _request_id(req)))
    return resp


def authorize(emu: Any, req: Request) -> Response | None:
    auth = req.header("authorization") or ""
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not key:
        return error(emu, req, 401, "You didn't provide an API key. You need to provide your API key in an "
                                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                     code=None)
    if emu.api_key is not None and key != emu.api_key:
        # The real message shows a masked key; the emulator shows none at all.
        return error(emu, req, 401, "Incorrect API key provided. You can find your API key at "
                                    "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    return None


def error(emu: Any, req: Request, status: int, message: str | None, *, retry_after: float | None = None,
          spend_limit: bool = False, param: str | None = None, code: str | None = None) -> Response:
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    if spend_limit:
        kind, code = "insufficient_quota", "insufficient_quota"
        message = "You exceeded your current quota, please check your plan and billing details."
    body = {"error": {"message": message or DEFAULT_MESSAGES.get(status, "Error"), "type": kind,
                      "param": param, "code": code}}
    headers: list[tuple[str, str]] = []
    if status in _RETRY_HINT_STATUSES and retry_after is not None and retry_after > 0 and not spend_limit:
        headers += [("retry-after", str(max(1, math.ceil(retry_after)))),
                    ("retry-after-ms", str(max(1, round(retry_after * 1000))))]
    return Response.json(body, status=status, headers=headers)


def too_large(emu: Any, req: Request, size: int) -> Response:
    return error(emu, req, 400, "File is too large.", param="file")


def _request_id(req: Request) -> str:
    if not req.request_id:
        req.request_id = new_openai_id("req_")
    return req.request_id


# -- batches ------------------------------------------------------------------------------
def create(emu: Any, req: Request) -> Response:
    body = req.json(1 << 20)
    if not isinstance(body, dict):
        return error(emu, req, 400, "The request body must be a JSON object.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str) or not body[name]:
            return error(emu, req, 400, f"Missing required parameter: '{name}'.", param=name)
    if body["endpoint"] not in ENDPOINTS:
        return error(emu, req, 400, f"Invalid value: '{body['endpoint']}'. Supported values are: "
                                    + ", ".join(f"'{e}'" for e in ENDPOINTS) + ".", param="endpoint")
    if body["completion_window"] != "24h":
        return error(emu, req, 400, f"Invalid value: '{body['completion_window']}'. Supported values are: '24h'.",
                     param="completion_window")
    metadata = body.get("metadata")
    if metadata is not None and emu.store.faults.openai_no_metadata:
        return error(emu, req, 400, "Unrecognized request argument supplied: metadata", param="metadata")
    problem = _check_metadata(metadata)
    if problem:
        return error(emu, req, 400, problem, param="metadata")
    expires = body.get("output_expires_after")
    if expires is not None:
        seconds = expires.get("seconds") if isinstance(expires, dict) else None
        if not isinstance(seconds, int) or not 3600 <= seconds <= 2_592_000:
            return error(emu, req, 400, "output_expires_after.seconds must be between 3600 and 2592000.",
                         param="output_expires_after.seconds")
    stored = emu.store.get_file(body["input_file_id"])
    if stored is None or stored.provider != NAME:
        return error(emu, req, 404, f"No such File object: {body['input_file_id']}", param="input_file_id")
    if stored.purpose != "batch":
        return error(emu, req, 400, f"File {stored.name} has purpose {stored.purpose!r}; batches need 'batch'.",
                     param="input_file_id")
    items, errors = _read_input(stored.path, body["endpoint"], emu.store.faults.obey_injections,
                                emu.store.faults.openai_no_response_format)
    batch = emu.store.add_batch(NAME, new_openai_id("batch_"), items, endpoint=body["endpoint"],
                                metadata_map=dict(metadata) if metadata else None, errors=errors or None,
                                input_file=stored.name, model=items[0].model if items else "")
    return Response.json(render(emu, batch, just_created=True))


def _check_metadata(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "metadata must be an object of string keys and string values."
    if len(metadata) > 16:
        return f"metadata may hold at most 16 pairs, not {len(metadata)}."
    for key, value in metadata.items():
        if not isinstance(value, str):
            return f"metadata value of {key!r} must be a string."
        if len(key) > 64:
            return f"metadata key {key[:20]!r}… is longer than 64 characters."
        if len(value) > 512:
            return f"metadata value of {key!r} is longer than 512 characters."
    return None


def _read_input(path: str, endpoint: str, obey: bool,
                no_response_format: bool = False) -> tuple[list[Item], list[dict[str, Any]]]:
    """The requests of an input file, and the validation errors that fail the batch."""
    items: list[Item] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model = None
    lines = 0

    def bad(code: str, line: int | None, message: str, param: str | None = None) -> None:
        if len(errors) < 100:
            errors.append({"code": code, "line": line, "message": message, "param": param})

    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            lines += 1
            try:
                entry = json.loads(raw)
            except ValueError:
                bad("invalid_json_line", n, "This line is not parseable as valid JSON.")
                continue
            if not isinstance(entry, dict):
                bad("invalid_request", n, "Each line must be a JSON object.")
                continue
            cid = entry.get("custom_id")
            if not isinstance(cid, str) or not cid:
                bad("invalid_request", n, "Missing required parameter: 'custom_id'.", "custom_id")
                continue
            if cid in seen:
                bad("duplicate_custom_id", n, f"The custom_id '{cid}' is used more than once in this file.",
                    "custom_id")
                continue
            seen.add(cid)
            if entry.get("method") != "POST":
                bad("invalid_request", n, "The 'method' of each request must be 'POST'.", "method")
                continue
            if entry.get("url") != endpoint:
                bad("url_mismatch", n, f"The url '{entry.get('url')}' does not match the batch endpoint "
                                       f"'{endpoint}'.", "url")
                continue
            request = entry.get("body")
            if not isinstance(request, dict) or not isinstance(request.get("model"), str):
                bad("invalid_request", n, "Missing required parameter: 'body.model'.", "body.model")
                continue
            if no_response_format and "response_format" in request:
                bad("invalid_request", n, "response_format is not supported by this endpoint.",
                    "body.response_format")
                continue
            if model is None:
                model = request["model"]
            elif request["model"] != model:
                bad("model_mismatch", n, f"The model '{request['model']}' differs from '{model}' used by the "
                                         "other requests of this file.", "body.model")
                continue
            items.append(_item(cid, request, endpoint, obey))
    if not lines:
        bad("empty_file", None, "The input file contains no requests.")
    elif lines > MAX_REQUESTS:
        bad("too_many_tasks", None, f"The input file holds {lines} requests; a batch holds at most "
                                    f"{MAX_REQUESTS}.")
    return items, errors


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _item(cid: str, body: dict[str, Any], endpoint: str, obey: bool) -> Item:
    model = body["model"]
    messages = body.get("messages")
    invalid = None
    if endpoint != "/v1/chat/completions":
        invalid = f"This emulator answers only /v1/chat/completions requests, not {endpoint}."
    elif not isinstance(messages, list) or not messages:
        invalid = "Missing required parameter: 'messages'."
    elif body.get("stream"):
        invalid = "Streaming is not supported in the Batch API."
    elif "max_tokens" in body and model.startswith(REASONING_PREFIXES):
        invalid = ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.")
    messages = messages if isinstance(messages, list) else []
    user = "\n".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user")
    system = "\n".join(_text_of(m.get("content")) for m in messages
                       if isinstance(m, dict) and m.get("role") in ("system", "developer"))
    url, title = replies.page_fields(user)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return Item(key=cid, url=url, title=title, input_tokens=replies.estimate_tokens(system + user),
                max_tokens=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
                model=model, injection=replies.find_injection(user) if obey else None, invalid=invalid)


def _find(emu: Any, req: Request) -> Batch | Response:
    batch = emu.store.get_batch(NAME, req.params["id"])
    if batch is None:
        return error(emu, req, 404, f"No batch found with id '{req.params['id']}'.", param="id")
    return batch


def retrieve(emu: Any, req: Request) -> Response:
    batch = _find(emu, req)
    return batch if isinstance(batch, Response) else Response.json(render(emu, batch))


def list_batches(emu: Any, req: Request) -> Response:
    try:
        limit = int(req.arg("limit", "20"))
    except ValueError:
        return error(emu, req, 400, "limit must be an integer", param="limit")
    if not 1 <= limit <= 100:
        return error(emu, req, 400, "limit must be between 1 and 100", param="limit")
    batches = emu.store.list_batches(NAME)
    after = req.arg("after")
    if after:
        ids = [b.id for b in batches]
        batches = batches[ids.index(after) + 1:] if after in ids else []
    page = batches[:limit]
    data = [render(emu, b) for b in page]
    return Response.json({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None, "has_more": len(batches) > limit})


def cancel(emu: Any, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    store = emu.store
    with store.lock:
        now = store.now()
        status = status_of(batch, now)
        if status in TERMINAL:
            return error(emu, req, 400, f"Cannot cancel a batch with status '{status}'.")
        if batch.cancel_at is None or batch.cancel_at > now:
            batch.cancel_at = now
    return Response.json(render(emu, batch, cancelling=True))


# -- the timeline -------------------------------------------------------------------------
def validated_at(batch: Batch) -> float:
    return batch.created + batch.processing_seconds * _VALIDATE_SHARE


def _fails(batch: Batch) -> bool:
    return bool(batch.errors) or batch.outcome == "fail"


def _cancel_seen(batch: Batch) -> bool:
    """A cancel that took effect before the batch ended on its own."""
    return batch.cancel_at is not None and batch.cancel_at < (validated_at(batch) if _fails(batch) else batch.ends)


def status_of(batch: Batch, now: float) -> str:
    if _cancel_seen(batch) and now >= batch.cancel_at:  # type: ignore[operator]
        return "cancelled" if now >= batch.ended_at() else "cancelling"
    if now < validated_at(batch):
        return "validating"
    if _fails(batch):
        return "failed"
    if now >= batch.ends:
        return "expired" if batch.outcome == "expire" else "completed"
    if now >= batch.ends - batch.processing_seconds * _VALIDATE_SHARE:
        return "finalizing"
    return "in_progress"


def render(emu: Any, batch: Batch, *, just_created: bool = False, cancelling: bool = False) -> dict[str, Any]:
    now = batch.created if just_created else emu.store.now()
    status = "validating" if just_created else status_of(batch, now)
    if cancelling and status != "cancelled":
        status = "cancelling"  # the cancel reply itself never shows the batch already cancelled
    created = int(batch.created)
    stamp: dict[str, int | None] = dict.fromkeys(
        ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at",
         "cancelled_at"))
    validated = int(validated_at(batch))
    canceled_validating = batch.cancel_at is not None and batch.cancel_at < validated_at(batch)
    if status not in ("validating", "failed") and not (status.startswith("cancel") and canceled_validating):
        stamp["in_progress_at"] = validated
    if status in ("finalizing", "completed", "expired"):
        stamp["finalizing_at"] = int(batch.ends - batch.processing_seconds * _VALIDATE_SHARE)
    if status in ("completed", "expired"):
        stamp[f"{status}_at"] = int(batch.ends)
    if status == "failed":
        stamp["failed_at"] = validated
    if status in ("cancelling", "cancelled"):
        stamp["cancelling_at"] = int(batch.cancel_at or now)
    if status == "cancelled":
        stamp["cancelled_at"] = int(batch.ended_at())
    output_file = error_file = None
    total = completed = failed = 0
    usage = {"input_tokens": 0, "output_tokens": 0}
    if status in ("completed", "expired", "cancelled"):
        output_file, error_file = ensure_files(emu, batch)
        tally = _tally(batch)
        total, completed, failed = len(batch.items), tally["completed"], tally["failed"]
        usage = {"input_tokens": tally["input_tokens"], "output_tokens": tally["output_tokens"]}
    elif status in ("in_progress", "finalizing", "cancelling"):
        total = len(batch.items)
        share = batch.progress(min(now, batch.cancel_at) if batch.cancel_at is not None else now)
        tally = _tally(batch)
        completed, failed = int(tally["completed"] * share), int(tally["failed"] * share)
    errors = None
    if status == "failed":
        data = batch.errors or [{"code": "token_limit_exceeded", "line": None, "param": None, "message": (
            f"Enqueued token limit reached for {batch.model or 'this model'} in organization org-emulator. "
            "Please try again once some in_progress batches have been completed.")}]
        errors = {"object": "list", "data": data}
    return {
        "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": errors,
        "input_file_id": batch.input_file, "completion_window": "24h", "status": status,
        "output_file_id": output_file, "error_file_id": error_file, "created_at": created,
        "expires_at": created + 24 * 3600, **stamp,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        "metadata": batch.metadata_map, "model": batch.model or None,
        "usage": {"input_tokens": usage["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": usage["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": usage["input_tokens"] + usage["output_tokens"]},
    }


# -- results ------------------------------------------------------------------------------
def _tally(batch: Batch) -> dict[str, int]:
    """Lines per file and billed tokens, once (outcomes never change after create)."""
    tally = batch.cache.get("openai_tally")
    if tally is None:
        tally = {"completed": 0, "failed": 0, "unfinished": 0, "input_tokens": 0, "output_tokens": 0}
        for i in range(len(batch.items)):
            line, ok = result_line(batch, i)
            if ok:
                tally["completed"] += 1
                usage = line["response"]["body"]["usage"]
                tally["input_tokens"] += usage["prompt_tokens"]
                tally["output_tokens"] += usage["completion_tokens"]
            elif line["error"] is not None and line["error"]["code"] in ("batch_expired", "batch_cancelled"):
                tally["unfinished"] += 1  # counted nowhere (trap 6)
            else:
                tally["failed"] += 1
        batch.cache["openai_tally"] = tally
    return tally


def ensure_files(emu: Any, batch: Batch) -> tuple[str | None, str | None]:
    """Write the output and error files once (streamed to disk); either may not exist."""
    with batch.write_lock:
        if "openai_files" not in batch.cache:
            paths = {True: emu.store.new_path("openai-output-"), False: emu.store.new_path("openai-errors-")}
            sizes = {True: 0, False: 0}
            with open(paths[True], "wb") as out, open(paths[False], "wb") as err:
                for i in batch.result_order():
                    line, ok = result_line(batch, i)
                    data = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    (out if ok else err).write(data)
                    sizes[ok] += len(data)
            names: dict[bool, str | None] = {}
            for ok, label in ((True, "output"), (False, "errors")):
                if not sizes[ok]:  # no line of this kind: no file (a completed batch may lack output)
                    os.unlink(paths[ok])
                    names[ok] = None
                    continue
                f = emu.store.add_file(StoredFile(
                    name=new_openai_id("file-"), display_name=f"batch_{batch.id}_{label}.jsonl",
                    mime_type="application/jsonl", size=sizes[ok], sha256="", created=emu.store.now(),
                    source="GENERATED", path=paths[ok], provider=NAME, purpose="batch_output"))
                names[ok] = f.name
            batch.output_file, batch.error_file = names[True], names[False]
            batch.cache["openai_files"] = True
        return batch.output_file, batch.error_file


def result_line(batch: Batch, index: int) -> tuple[dict[str, Any], bool]:
    """One request output object, and whether it belongs in the output file (a 200)."""
    item = batch.items[index]
    outcome = batch.final_outcome(index)
    line_id = f"batch_req_{digest(batch.id, item.key, str(index)):016x}"
    request_id = f"req_{digest(item.key, batch.id, str(index)):016x}"
    if outcome in ("expired", "canceled"):
        if outcome == "canceled":
            code, message = "batch_cancelled", "This request was not executed because the batch was cancelled."
        elif batch.outcome == "expire":
            code, message = "batch_expired", "This request could not be executed before the completion window expired."
        else:
            code, message = "request_timeout", "The request timed out."
        return {"id": line_id, "custom_id": item.key, "response": None,
                "error": {"code": code, "message": message}}, False
    if outcome == "errored":
        status, err = (400, {"message": item.invalid, "type": "invalid_request_error", "param": None,
                             "code": None}) if item.invalid else \
            (500, {"message": DEFAULT_MESSAGES[500], "type": "server_error", "param": None, "code": None})
        return {"id": line_id, "custom_id": item.key,
                "response": {"status_code": status, "request_id": request_id, "body": {"error": err}},
                "error": None}, False
    kind = {"malformed": "malformed", "obey": "obey"}.get(outcome, "ok")
    reply = replies.build_reply(item.url, item.title, kind=kind, injection=item.injection,
                                max_tokens=item.max_tokens, salt=batch.id)
    refused = reply.stop == "refusal"
    said: dict[str, Any] = {"role": "assistant", "content": None if refused else reply.text,
                            "refusal": _REFUSAL if refused else None, "annotations": []}
    body = {
        "id": f"chatcmpl-{digest(batch.id, item.key):016x}", "object": "chat.completion",
        "created": int(batch.ends), "model": item.model,
        "choices": [{"index": 0, "message": said, "logprobs": None,
                     "finish_reason": "length" if reply.stop == "max_tokens" else "stop"}],
        "usage": {"prompt_tokens": item.input_tokens, "completion_tokens": reply.output_tokens,
                  "total_tokens": item.input_tokens + reply.output_tokens,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": None,
    }
    return {"id": line_id, "custom_id": item.key,
            "response": {"status_code": 200, "request_id": request_id, "body": body}, "error": None}, True


_BATCH = r"/v1/batches/(?P<id>[^/]+)"
ROUTES = [
    ("POST", r"/v1/batches", "create", create),
    ("GET", r"/v1/batches", "list", list_batches),
    ("GET", _BATCH, "get", retrieve),
    ("POST", _BATCH + "/cancel", "cancel", cancel),
]
