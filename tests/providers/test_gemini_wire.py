"""GeminiBatches against a scripted server: the exact bytes of each call, and result parsing."""

from __future__ import annotations

import json
import tempfile

import pytest
from fakehttp import CANARY_GEMINI, FakeServer, Sleeps

from seobatch.errors import AmbiguousCreate, PermanentError, ResultsUnavailable, TransientError
from seobatch.providers.base import BatchInfo, Prompt, obj_at, outcome_for_missing
from seobatch.providers.gemini import GeminiBatches, parse_file_line, parse_inline_entry, parse_response

MODEL = "gemini-2.5-flash"


def client(url: str, sleeps: Sleeps | None = None, **kw) -> GeminiBatches:
    kw.setdefault("timeout", (2.0, 5.0))
    return GeminiBatches(CANARY_GEMINI, url, sleep=sleeps if sleeps is not None else Sleeps(), rng=lambda: 0.0, **kw)


def reqs(c: GeminiBatches, n: int, content: str = "text"):
    return [
        c.build_request(f"p{i}", Prompt("You write SEO.", f"URL: https://x.test/{i}\nTitle: T{i}\n{content}"), model=MODEL, max_tokens=200)
        for i in range(n)
    ]


def op(name: str = "batches/b1", state: str = "BATCH_STATE_PENDING", **md) -> str:
    meta = {"name": name, "state": state, "displayName": "job", "createTime": "2026-11-28T18:37:24.100435Z",
            "batchStats": {"requestCount": "2", "pendingRequestCount": "2"}, **md}
    return json.dumps({"name": name, "metadata": meta})


def test_request_uses_json_mode_with_the_seo_schema():
    body = client("http://127.0.0.1:9").build_request("p1", Prompt("sys", "user"), model=MODEL, max_tokens=321).body
    assert body["contents"] == [{"role": "user", "parts": [{"text": "user"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    config = body["generationConfig"]
    assert config["maxOutputTokens"] == 321 and config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["required"] == ["title", "meta_description"]
    assert config["thinkingConfig"] == {"thinkingBudget": 0}
    pro = client("http://127.0.0.1:9").build_request("p1", Prompt("s", "u"), model="gemini-2.5-pro", max_tokens=9).body
    assert "thinkingConfig" not in pro["generationConfig"]


def test_a_small_batch_is_created_inline_with_keys_in_metadata(fake: FakeServer):
    fake.add(200, op())
    c = client(fake.url)
    info = c.create_batch(reqs(c, 2), model=MODEL, display_name="job-1")
    seen = fake.seen[0]
    assert (seen.method, seen.path) == ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
    assert seen.headers["x-goog-api-key"] == CANARY_GEMINI and "key=" not in seen.query
    assert seen.headers["Content-Length"] == str(len(seen.body))
    batch = json.loads(seen.body)["batch"]
    assert batch["displayName"] == "job-1"
    items = batch["inputConfig"]["requests"]["requests"]
    assert [i["metadata"]["key"] for i in items] == ["p0", "p1"]
    assert items[0]["request"]["contents"][0]["parts"][0]["text"].startswith("URL: https://x.test/0")
    assert (info.id, info.state, info.request_count, info.display_name) == ("batches/b1", "in_progress", 2, "job")


def chunk_reply(final_file: dict):
    """A raw reply for upload chunks: ``active``, or ``final`` with the file on finalize."""

    def write(handler) -> None:
        final = "finalize" in handler.headers.get("X-Goog-Upload-Command", "")
        body = json.dumps({"file": final_file}).encode() if final else b""
        handler.send_response(200)
        handler.send_header("X-Goog-Upload-Status", "final" if final else "active")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return write


def test_a_large_batch_is_uploaded_in_chunks_without_the_key_then_created_from_the_file(fake: FakeServer):
    upload_url = fake.url + "/upload/v1beta/files?upload_id=sess1"
    fake.add(200, "", {"X-Goog-Upload-URL": upload_url, "X-Goog-Upload-Status": "active"})
    c = client(fake.url, inline_limit_bytes=500, upload_chunk_bytes=1000)
    with tempfile.TemporaryFile() as f:
        expected_size = c._spool_jsonl(reqs(c, 6, content="x" * 180), f)[1]
    for _ in range(-(-expected_size // 1000)):
        fake.add(raw=chunk_reply({"name": "files/in1", "state": "ACTIVE"}))
    fake.add(200, op())
    c.create_batch(reqs(c, 6, content="x" * 180), model=MODEL, display_name="job-2")
    start, *chunks, create = fake.seen
    assert (start.path, start.headers["X-Goog-Upload-Command"], start.headers["X-Goog-Upload-Protocol"]) == (
        "/upload/v1beta/files", "start", "resumable")
    meta = json.loads(start.body)["file"]
    size = int(start.headers["X-Goog-Upload-Header-Content-Length"])
    assert meta == {"display_name": "job-2", "mime_type": "application/jsonl", "size_bytes": size}
    n = -(-size // 1000)
    assert n >= 3 and len(chunks) == n
    assert [c.headers["X-Goog-Upload-Command"] for c in chunks] == ["upload"] * (n - 1) + ["upload, finalize"]
    assert [int(c.headers["X-Goog-Upload-Offset"]) for c in chunks] == [1000 * i for i in range(n)]
    assert all("x-goog-api-key" not in {k.lower() for k in c.headers} for c in chunks)
    uploaded = b"".join(c.body for c in chunks)
    assert len(uploaded) == size
    lines = [json.loads(line) for line in uploaded.splitlines()]
    assert [line["key"] for line in lines] == [f"p{i}" for i in range(6)]
    assert lines[0]["request"]["generationConfig"]["responseMimeType"] == "application/json"
    assert json.loads(create.body) == {"batch": {"displayName": "job-2", "inputConfig": {"fileName": "files/in1"}}}


def test_an_upload_url_on_another_host_is_refused(fake: FakeServer, other_fake: FakeServer):
    fake.add(200, "", {"X-Goog-Upload-URL": other_fake.url + "/upload?upload_id=x"})
    c = client(fake.url, inline_limit_bytes=10)
    with pytest.raises(PermanentError, match="another host"):
        c.create_batch(reqs(c, 2), model=MODEL, display_name="j")
    assert other_fake.seen == []


def test_a_failed_upload_chunk_restarts_the_upload_and_is_not_ambiguous(fake: FakeServer):
    upload_url = fake.url + "/upload/v1beta/files?upload_id=s"
    fake.add(200, "", {"X-Goog-Upload-URL": upload_url})
    fake.add(503, '{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}')
    fake.add(200, "", {"X-Goog-Upload-URL": upload_url})
    fake.add(200, json.dumps({"file": {"name": "files/in2"}}), {"X-Goog-Upload-Status": "final"})
    fake.add(200, op())
    sleeps = Sleeps()
    c = client(fake.url, sleeps, inline_limit_bytes=10)
    assert c.create_batch(reqs(c, 2), model=MODEL, display_name="j").id == "batches/b1"
    assert len(sleeps) == 1 and len(fake.seen) == 5


def test_a_processing_input_file_is_polled_until_active(fake: FakeServer):
    fake.add(200, "", {"X-Goog-Upload-URL": fake.url + "/upload/v1beta/files?upload_id=s"})
    fake.add(200, json.dumps({"file": {"name": "files/in3", "state": "PROCESSING"}}), {"X-Goog-Upload-Status": "final"})
    fake.add(200, json.dumps({"name": "files/in3", "state": "ACTIVE"}))
    fake.add(200, op())
    sleeps = Sleeps()
    c = client(fake.url, sleeps, inline_limit_bytes=10)
    c.create_batch(reqs(c, 1), model=MODEL, display_name="j")
    assert fake.seen[2].path == "/v1beta/files/in3" and sleeps == [1.0]


def test_a_create_answered_with_a_5xx_is_ambiguous(fake: FakeServer):
    fake.add(500, '{"error":{"code":500,"message":"internal","status":"INTERNAL"}}')
    c = client(fake.url)
    with pytest.raises(AmbiguousCreate) as info:
        c.create_batch(reqs(c, 1), model=MODEL, display_name="j")
    assert CANARY_GEMINI not in str(info.value) + repr(info.value)
    assert len(fake.seen) == 1


def test_429_with_retry_info_waits_the_servers_delay(fake: FakeServer):
    body = json.dumps({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "19s"}]}})
    fake.add(429, body)
    fake.add(200, op())
    sleeps = Sleeps()
    c = client(fake.url, sleeps)
    c.create_batch(reqs(c, 1), model=MODEL, display_name="j")
    assert sleeps == [19.0] and len(fake.seen) == 2


def test_an_invalid_key_is_permanent_and_never_echoed(fake: FakeServer):
    body = json.dumps({"error": {"code": 400, "message": f"API key not valid: {CANARY_GEMINI}", "status": "INVALID_ARGUMENT",
                                 "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
    fake.add(400, body)
    with pytest.raises(PermanentError, match="API_KEY_INVALID") as info:
        client(fake.url).get_batch("batches/b1")
    assert CANARY_GEMINI not in str(info.value) + repr(info.value)


def test_operation_states_and_int64_counts_are_normalised(fake: FakeServer):
    fake.add(200, json.dumps({"name": "batches/b1", "done": True, "metadata": {
        "name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED", "displayName": "job",
        "batchStats": {"requestCount": "3", "successfulRequestCount": "2", "failedRequestCount": "1"},
        "output": {"responsesFile": "files/batch-out"}}}))
    info = client(fake.url).get_batch("b1")
    assert fake.seen[0].path == "/v1beta/batches/b1"
    assert (info.state, info.ending, info.provider_state, info.request_count) == ("ended", "succeeded", "BATCH_STATE_SUCCEEDED", 3)
    assert info.counts == {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 0}
    assert info.results_ref == "files/batch-out"


def test_a_failed_batch_carries_the_operation_error(fake: FakeServer):
    fake.add(200, json.dumps({"name": "batches/b1", "done": True, "error": {"code": 13, "message": "boom"},
                              "metadata": {"name": "batches/b1", "state": "BATCH_STATE_FAILED"}}))
    info = client(fake.url).get_batch("batches/b1")
    assert (info.ending, info.error) == ("failed", "13: boom")
    assert outcome_for_missing(info) == "errored"


def test_output_only_under_top_level_response_is_found(fake: FakeServer):
    fake.add(200, json.dumps({"name": "batches/b1", "done": True, "metadata": {"name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED"},
                              "response": {"responsesFile": "files/out"}}))
    assert client(fake.url).get_batch("batches/b1").results_ref == "files/out"


def test_inline_results_are_joined_by_metadata_key(fake: FakeServer):
    entries = [
        {"metadata": {"key": "p2"}, "response": {"candidates": [{"content": {"parts": [{"text": "{\"t\":2}"}]}, "finishReason": "STOP"}],
                                                  "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 2}}},
        {"metadata": {"key": "p1"}, "error": {"code": 400, "message": "bad request", "status": "INVALID_ARGUMENT"}},
    ]
    done = {"name": "batches/b1", "done": True, "metadata": {"name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED",
            "output": {"inlinedResponses": {"inlinedResponses": entries}}}}
    fake.add(200, json.dumps(done))
    c = client(fake.url)
    results = list(c.iter_results(BatchInfo(id="batches/b1", state="ended", provider_state="x", results_ref="inline")))
    assert [(r.custom_id, r.outcome) for r in results] == [("p2", "succeeded"), ("p1", "errored")]
    assert (results[0].text, results[0].input_tokens, results[0].output_tokens) == ('{"t":2}', 7, 5)
    assert results[1].error == "INVALID_ARGUMENT: bad request"


def test_the_responses_file_is_streamed_and_joined_by_key(fake: FakeServer):
    lines = [
        {"key": "p3", "response": {"candidates": [{"content": {"parts": [{"text": "think", "thought": True}, {"text": "{\"a\":"}, {"text": "1}"}]},
                                                   "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2}}},
        {"key": "p1", "error": {"code": 500, "message": "internal"}},
    ]
    body = b"\n".join(json.dumps(x).encode() for x in lines) + b"\n\n"
    fake.add(200, body, {"Content-Type": "application/octet-stream"})
    c = client(fake.url)
    results = list(c.iter_results(BatchInfo(id="batches/b1", state="ended", provider_state="x", results_ref="files/batch-9")))
    assert (fake.seen[0].path, fake.seen[0].query) == ("/v1beta/files/batch-9:download", "alt=media")
    assert "key=" not in fake.seen[0].query
    assert [(r.custom_id, r.outcome, r.text) for r in results] == [("p3", "succeeded", '{"a":1}'), ("p1", "errored", None)]
    assert results[1].error == "500: internal"


def test_an_expired_responses_file_is_unavailable(fake: FakeServer):
    fake.add(404, '{"error":{"code":404,"message":"File not found","status":"NOT_FOUND"}}')
    with pytest.raises(ResultsUnavailable):
        list(client(fake.url).iter_results(BatchInfo(id="batches/b1", state="ended", provider_state="x", results_ref="files/gone")))


def test_an_expired_batch_has_no_results_and_items_settle_as_expired(fake: FakeServer):
    fake.add(200, json.dumps({"name": "batches/b1", "done": True, "metadata": {"name": "batches/b1", "state": "BATCH_STATE_EXPIRED",
                                                                               "batchStats": {"requestCount": "4"}}}))
    c = client(fake.url)
    batch = BatchInfo(id="batches/b1", state="ended", provider_state="BATCH_STATE_EXPIRED", ending="expired")
    assert list(c.iter_results(batch)) == []
    assert outcome_for_missing(batch) == "expired"


def test_a_running_batch_has_no_results_yet(fake: FakeServer):
    fake.add(200, op(state="BATCH_STATE_RUNNING"))
    with pytest.raises(TransientError, match="not ended"):
        list(client(fake.url).iter_results(BatchInfo(id="batches/b1", state="in_progress", provider_state="x")))


def test_find_batches_pages_through_operations_by_display_name(fake: FakeServer):
    fake.add(200, json.dumps({"operations": [json.loads(op("batches/a", displayName="other"))], "nextPageToken": "t2"}))
    fake.add(200, json.dumps({"operations": [json.loads(op("batches/b", displayName="job-9"))]}))
    from datetime import datetime

    found = client(fake.url).find_batches(display_name="job-9", created_after=datetime(2026, 11, 1), request_count=2)
    assert [b.id for b in found] == ["batches/b"]
    assert [s.query for s in fake.seen] == ["pageSize=100", "pageSize=100&pageToken=t2"]


def test_cancel_posts_the_verb_then_reads_the_batch(fake: FakeServer):
    fake.add(200, "{}")
    fake.add(200, op(state="BATCH_STATE_CANCELLED"))
    info = client(fake.url).cancel_batch("batches/b1")
    assert [(s.method, s.path) for s in fake.seen] == [("POST", "/v1beta/batches/b1:cancel"), ("GET", "/v1beta/batches/b1")]
    assert info.ending == "canceled"


@pytest.mark.parametrize(
    "response,error",
    [
        ({"promptFeedback": {"blockReason": "SAFETY"}}, "blocked: SAFETY"),
        ({"candidates": []}, "no_candidates"),
        ({"candidates": [{"finishReason": "SAFETY"}]}, "finish_reason: SAFETY"),
        ({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "RECITATION"}]}, "finish_reason: RECITATION"),
        ({"candidates": [{"content": {"parts": []}, "finishReason": "MAX_TOKENS"}]}, "empty_reply (finishReason MAX_TOKENS)"),
    ],
)
def test_blocked_or_empty_replies_are_errored_with_the_reason(response, error):
    item = parse_response("k", response)
    assert (item.outcome, item.error) == ("errored", error)


def test_malformed_result_lines_are_errored_by_key_or_skipped():
    assert parse_file_line(b'{"key": "p7", "response": {"cand').error.startswith("malformed_result")
    assert parse_file_line(b"not json at all") is None
    assert parse_file_line(b'{"response": {}}') is None
    assert parse_inline_entry({"response": {}}) is None
    assert parse_file_line(b'{"key": "p8"}').error.startswith("malformed_result")


def test_members_of_the_wrong_type_read_as_empty_objects():
    assert obj_at({"a": {"b": 1}}, "a") == {"b": 1}
    for value in ({"a": None}, {"a": [1]}, {"a": "x"}, {}, None, [1], "a"):
        assert obj_at(value, "a") == {}
    hostile = {"usageMetadata": [], "promptFeedback": 3,
               "candidates": [{"content": "text", "finishReason": "STOP"}]}
    item = parse_response("p1", hostile)
    assert (item.outcome, item.error, item.input_tokens) == ("errored", "empty_reply (finishReason STOP)", 0)
