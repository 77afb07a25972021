"""The Anthropic Message Batches API (``/v1/messages/batches…``), as the emulator serves it.

Wire facts follow ``shared/provider-apis.md`` §1: both auth headers, both
``anthropic-version`` values, a ``request-id`` header on every reply, counts that stay in
``processing`` until the batch ends, an absolute ``results_url`` on our own host, JSONL
results with no blank lines and not in request order, newest-first list pagination.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import jsonstream, replies
from .contract import Route
from .state import Batch, Item, digest, new_anthropic_id, new_id, rfc3339
from .wire import BadBody, Request, Response

if TYPE_CHECKING:
    from .app import Emulator

NAME = "anthropic"
VERSIONS = ("2023-06-01", "2026-10-21")
MAX_REQUESTS = 100_000
MAX_OUTPUT_TOKENS = 128_000
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: Sampling parameters that API version 2026-10-21 rejects (migration-2026-10-21).
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 409: "conflict_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    502: "api_error", 503: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
DEFAULT_MESSAGES = {
    401: "invalid x-api-key", 403: "Your API key does not have permission to use the specified resource.",
    404: "Not found", 409: "Conflict", 429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
    504: "Request timed out", 529: "Overloaded",
}
_CLOUDFLARE_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}"
    "</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_RETRY_HINT_STATUSES = (429, 503, 529)
_BATCH = r"/v1/messages/batches/(?P<id>[^/]+)"


# -- gates the server calls ---------------------------------------------------------------
def decorate(req: Request, resp: Response) -> Response:
    resp.headers.append(("request-id", _request_id(req)))
    return resp


def authorize(emu: Emulator, req: Request) -> Response | None:
    key = req.header("x-api-key")
    auth = req.header("authorization") or ""
    if not key and auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
    if not key:
        return error(emu, req, 401, "x-api-key header is required")
    if emu.api_key is not None and key != emu.api_key:
        return error(emu, req, 401, "invalid x-api-key")
    version = req.header("anthropic-version")
    if not version:
        return error(emu, req, 400, "anthropic-version: header is required")
    if version not in VERSIONS:
        return error(emu, req, 400, f"anthropic-version: invalid value {version!r}")
    return None


def error(emu: Emulator, req: Request, status: int, message: str | None, *, retry_after: float | None = None,
          spend_limit: bool = False) -> Response:
    if status in (413, 502):  # Cloudflare answers these before the API: HTML, not JSON
        reason = "Request Entity Too Large" if status == 413 else "Bad Gateway"
        html = _CLOUDFLARE_HTML.format(code=status, reason=reason).encode()
        return Response(status=status, body=html, content_type="text/html")
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    inner: dict[str, Any] = {"type": kind, "message": message or DEFAULT_MESSAGES.get(status, "Error")}
    headers: list[tuple[str, str]] = []
    if spend_limit:
        inner["message"] = "You have reached your specified workspace API usage limits."
        inner["details"] = {"error_code": "enforced_spend_limit_reached"}
    elif status in _RETRY_HINT_STATUSES and retry_after is not None and retry_after > 0:
        headers += [("retry-after", str(max(1, math.ceil(retry_after)))),
                    ("retry-after-ms", str(max(1, round(retry_after * 1000))))]
    body = {"type": "error", "error": inner, "request_id": _request_id(req)}
    return Response.json(body, status=status, headers=headers)


def too_large(emu: Emulator, req: Request, size: int) -> Response:
    return error(emu, req, 413, None)


def _request_id(req: Request) -> str:
    if not req.request_id:
        req.request_id = "req_01" + new_id("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 22)
    return req.request_id


# -- handlers -----------------------------------------------------------------------------
def create(emu: Emulator, req: Request) -> Response:
    version = req.header("anthropic-version") or VERSIONS[0]
    # Looking for injected instructions in every prompt is a real share of a create's CPU
    # (a quarter on 2026-11-28; `scripts/bench.py` reports the emulator's CPU per stage),
    # and only a batch made while the obey fault is on ever uses what it finds.
    obey = emu.store.faults.obey_injections
    items: list[Item] = []
    seen: set[str] = set()
    problem: str | None = None
    count = 0
    try:
        for count, entry in enumerate(_entries(req, emu.max_body_bytes), start=1):
            if problem is None and count <= MAX_REQUESTS:  # after a problem, only count the rest
                problem = _check_entry(count - 1, entry, seen)
                if problem is None:
                    items.append(_item(entry["custom_id"], entry["params"], version, obey))
    except _Refused as exc:
        return error(emu, req, 400, str(exc))
    if count > MAX_REQUESTS:
        return error(emu, req, 400, f"requests: List should have at most {MAX_REQUESTS} items after "
                                    f"validation, not {count}")
    if problem:
        return error(emu, req, 400, problem)
    if not items:
        return error(emu, req, 400, "requests: List should have at least 1 item after validation, not 0")
    batch = emu.store.add_batch(NAME, new_anthropic_id(), items)
    # The create reply always shows the batch as just created, however short processing is.
    return Response.json(render(emu, req, batch, just_created=True))


class _Refused(Exception):
    """The body's envelope is wrong (message in the API's words)."""


def _entries(req: Request, limit: int) -> Iterator[Any]:
    """The ``requests`` array elements, decoded one by one as the body arrives."""
    pieces = req.pieces(limit)
    try:
        yield from jsonstream.iter_array(pieces, "requests")
        return
    except jsonstream.NotStreamable as exc:
        raw = exc.raw + b"".join(pieces)
    except ValueError as exc:
        raise BadBody(f"the request body is not valid JSON: {exc}") from None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadBody(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _Refused("Input should be a valid dictionary or object")
    extra = sorted(set(body) - {"requests"})
    if extra:
        raise _Refused(f"{extra[0]}: Extra inputs are not permitted")
    requests = body.get("requests")
    if requests is None:
        raise _Refused("requests: Field required")
    if not isinstance(requests, list):
        raise _Refused("requests: Input should be a valid list")
    yield from requests


def _check_entry(i: int, entry: Any, seen: set[str]) -> str | None:
    where = f"requests.{i}"
    if not isinstance(entry, dict):
        return f"{where}: Input should be a valid dictionary or object"
    extra = sorted(set(entry) - {"custom_id", "params"})
    if extra:
        return f"{where}.{extra[0]}: Extra inputs are not permitted"
    cid = entry.get("custom_id")
    if cid is None:
        return f"{where}.custom_id: Field required"
    if not isinstance(cid, str) or not CUSTOM_ID.fullmatch(cid):
        return f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
    if cid in seen:
        return f"{where}.custom_id: Duplicate custom_id {cid!r}; custom_id values must be unique within a batch"
    seen.add(cid)
    params = entry.get("params")
    if params is None:
        return f"{where}.params: Field required"
    if not isinstance(params, dict):
        return f"{where}.params: Input should be a valid dictionary or object"
    if not isinstance(params.get("model"), str) or not params["model"]:
        return f"{where}.params.model: Field required"
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        return f"{where}.params.max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return f"{where}.params.max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return f"{where}.params.max_tokens: Input should be greater than or equal to 1"
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        return f"{where}.params.messages: Field required" if messages is None else \
            f"{where}.params.messages: List should have at least 1 item"
    if params.get("stream"):
        return f"{where}.params.stream: Streaming is not supported for requests in a Message Batch"
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _item(custom_id: str, params: dict[str, Any], version: str, obey: bool = True) -> Item:
    system = _text_of(params.get("system"))
    messages = params["messages"]
    user = "\n".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user")
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    prefill = _text_of(last.get("content")) if last.get("role") == "assistant" else ""
    url, title = replies.page_fields(user)
    invalid = None
    if version == "2026-10-21":
        used = [p for p in SAMPLING_PARAMS if p in params]
        if used:
            invalid = f"{used[0]}: is not supported with anthropic-version 2026-10-21"
    if params["max_tokens"] > MAX_OUTPUT_TOKENS:
        invalid = (f"max_tokens: {params['max_tokens']} > {MAX_OUTPUT_TOKENS}, which is the maximum "
                   f"allowed number of output tokens for {params['model']}")
    return Item(key=custom_id, url=url, title=title,
                input_tokens=replies.estimate_tokens(system + user + prefill),
                max_tokens=params["max_tokens"], model=params["model"],
                injection=replies.find_injection(user) if obey else None, prefill=prefill, invalid=invalid)


def retrieve(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    return Response.json(render(emu, req, batch))


def list_batches(emu: Emulator, req: Request) -> Response:
    try:
        limit = int(req.arg("limit", "20"))
    except ValueError:
        return error(emu, req, 400, "limit: Input should be a valid integer")
    if not 1 <= limit <= 1000:
        return error(emu, req, 400, "limit: Input should be between 1 and 1000")
    after, before = req.arg("after_id"), req.arg("before_id")
    if after and before:
        return error(emu, req, 400, "Only one of before_id and after_id may be given")
    batches = emu.store.list_batches(NAME)
    ids = [b.id for b in batches]
    if before:
        end = ids.index(before) if before in ids else 0
        page = batches[max(0, end - limit):end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
        page = batches[start:start + limit]
        has_more = start + limit < len(batches)
    data = [render(emu, req, b) for b in page]
    return Response.json({"data": data, "has_more": has_more,
                          "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})


def cancel(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    store = emu.store
    with store.lock:
        now = store.now()
        if batch.is_ended(now):
            return error(emu, req, 400, f"Message Batch {batch.id} has already ended and cannot be canceled")
        if batch.cancel_at is None:
            batch.cancel_at = now
    return Response.json(render(emu, req, batch))


def delete(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    if not batch.is_ended(emu.store.now()):
        return error(emu, req, 400, f"Message Batch {batch.id} is still processing; cancel it before deleting it")
    emu.store.delete_batch(batch.id)
    return Response.json({"id": batch.id, "type": "message_batch_deleted"})


def results(emu: Emulator, req: Request) -> Response:
    batch = _find(emu, req)
    if isinstance(batch, Response):
        return batch
    if not batch.is_ended(emu.store.now()):
        return error(emu, req, 400, f"Message Batch {batch.id} has not yet ended; its results are not available")
    if emu.store.faults.results_gone:
        return error(emu, req, 404, f"The results of Message Batch {batch.id} have expired and are no longer available")
    truncate = emu.store.take_one_shot("truncate_results")
    if truncate:
        emu.store.count_fault("truncated")
    return Response(body=_result_stream(batch, truncate), content_type="application/x-jsonl", incomplete=truncate)


# -- rendering ----------------------------------------------------------------------------
def _find(emu: Emulator, req: Request) -> Batch | Response:
    batch = emu.store.get_batch(NAME, req.params["id"])
    if batch is None:
        return error(emu, req, 404, f"Message Batch {req.params['id']} not found")
    return batch


def render(emu: Emulator, req: Request, batch: Batch, just_created: bool = False) -> dict[str, Any]:
    now = batch.created if just_created else emu.store.now()
    ended = batch.is_ended(now) and not just_created
    if ended:
        status = "ended"
        counts = dict(processing=0, **_tally(batch))
    else:
        status = "canceling" if batch.cancel_at is not None and now >= batch.cancel_at else "in_progress"
        counts = {"processing": len(batch.items), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    cancel_seen = batch.cancel_at if batch.cancel_at is not None and now >= batch.cancel_at else None
    gone = ended and emu.store.faults.results_gone
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": rfc3339(batch.ended_at()) if ended else None,
        "created_at": rfc3339(batch.created),
        "expires_at": rfc3339(batch.created + 24 * 3600),
        "cancel_initiated_at": rfc3339(cancel_seen) if cancel_seen is not None else None,
        "archived_at": rfc3339(batch.ended_at()) if gone else None,
        "results_url": f"{req.base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
    }


def _tally(batch: Batch) -> dict[str, int]:
    tally = batch.cache.get("tally")
    if tally is None:
        tally = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for i in range(len(batch.items)):
            outcome = batch.final_outcome(i)
            tally["succeeded" if outcome in ("malformed", "obey", *replies.BAD_KINDS) else outcome] += 1
        batch.cache["tally"] = tally
    return tally


def _result_stream(batch: Batch, truncate: bool) -> Iterator[bytes]:
    order = batch.result_order()
    cut_at = len(order) // 2 if truncate else -1
    buf: list[bytes] = []
    size = 0
    for n, i in enumerate(order):
        line = json.dumps(result_line(batch, i), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if n == cut_at:  # stop in the middle of this line, once
            buf.append(line[: max(1, len(line) // 2)])
            break
        buf.append(line)
        size += len(line)
        if size >= 64 * 1024:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def result_line(batch: Batch, index: int) -> dict[str, Any]:
    item = batch.items[index]
    outcome = batch.final_outcome(index)
    if outcome in ("canceled", "expired"):
        return {"custom_id": item.key, "result": {"type": outcome}}
    if outcome == "errored":
        if item.invalid:
            inner = {"type": "invalid_request_error", "message": item.invalid}
        else:
            inner = {"type": "api_error", "message": "Internal server error"}
        return {"custom_id": item.key, "result": {"type": "errored", "error": {
            "type": "error", "error": inner, "request_id": None}}}
    kind = outcome if outcome in ("malformed", "obey", *replies.BAD_KINDS) else "ok"
    reply = replies.build_reply(item.url, item.title, kind=kind, injection=item.injection,
                                max_tokens=item.max_tokens, salt=batch.id)
    text = reply.text
    if item.prefill and text.startswith(item.prefill):
        text = text[len(item.prefill):]  # the reply continues the assistant's prefill
    message = {
        "id": "msg_01" + _base58(digest(batch.id, item.key) << 64 | digest(item.key, batch.id)),
        "type": "message", "role": "assistant", "model": item.model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": reply.stop, "stop_sequence": None,
        "usage": {
            "input_tokens": item.input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": reply.output_tokens, "service_tier": "batch", "inference_geo": "not_available",
        },
    }
    return {"custom_id": item.key, "result": {"type": "succeeded", "message": message}}


def _base58(n: int) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    out = []
    for _ in range(22):
        n, r = divmod(n, 58)
        out.append(alphabet[r])
    return "".join(out)


ROUTES: list[Route] = [
    ("POST", r"/v1/messages/batches", "create", create),
    ("GET", r"/v1/messages/batches", "list", list_batches),
    ("GET", _BATCH, "get", retrieve),
    ("POST", _BATCH + "/cancel", "cancel", cancel),
    ("DELETE", _BATCH, "delete", delete),
    ("GET", _BATCH + "/results", "results", results),
]
