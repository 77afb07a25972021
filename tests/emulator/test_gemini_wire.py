"""The Gemini side of the emulator on the wire, with plain ``requests``: the traps and faults."""

from __future__ import annotations

import json
import re

import pytest
import requests

from seobatch.emulator import Emulator

KEY = {"x-goog-api-key": "k"}
MODEL_PATH = "/v1beta/models/gemini-2.5-flash:batchGenerateContent"


def inline_body(n: int, *, snake: bool = False) -> dict:
    reqs = [{"request": {"contents": [{"role": "user", "parts": [{"text": f"URL: https://ex.com/{i}\nTitle: Page {i} of ex"}]}]},
             "metadata": {"key": f"p{i}"}} for i in range(n)]
    if snake:
        return {"batch": {"display_name": "snake", "input_config": {"requests": {"requests": reqs}}}}
    return {"batch": {"displayName": "camel", "inputConfig": {"requests": {"requests": reqs}}}}


def create(emu, n: int = 3, **kw) -> dict:
    r = requests.post(emu.url + MODEL_PATH, json=inline_body(n, **kw), headers=KEY, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def get(emu, name: str, version: str = "v1beta") -> dict:
    r = requests.get(f"{emu.url}/{version}/{name}", headers=KEY, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def upload(emu, data: bytes, chunk: int = 1 << 20, version: str = "v1beta") -> dict:
    start = requests.post(f"{emu.url}/upload/{version}/files", headers={
        **KEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)), "X-Goog-Upload-Header-Content-Type": "jsonl",
    }, json={"file": {"display_name": "in", "mime_type": "jsonl", "size_bytes": len(data)}})
    assert start.status_code == 200 and start.headers["X-Goog-Upload-Status"] == "active"
    url = start.headers["X-Goog-Upload-URL"]
    for offset in range(0, len(data), chunk):
        last = offset + chunk >= len(data)
        r = requests.post(url, data=data[offset:offset + chunk], headers={  # no key: the URL authorises
            "X-Goog-Upload-Command": "upload, finalize" if last else "upload", "X-Goog-Upload-Offset": str(offset)})
        assert r.status_code == 200, r.text
        assert r.headers["X-Goog-Upload-Status"] == ("final" if last else "active")
    return r.json()["file"]


def jsonl(n: int) -> bytes:
    return b"".join(json.dumps({"key": f"p{i}", "request": {"contents": [{"parts": [{"text": f"URL: https://ex.com/{i}"}]}]}}).encode()
                    + b"\n" for i in range(n))


def test_operations_carry_batch_states_string_counts_and_output_in_both_places(emulator):
    emulator.set_faults(processing_seconds=90, error_rate=0.25)
    op = create(emulator, 4)
    meta = op["metadata"]
    assert meta["state"] == "BATCH_STATE_PENDING" and "done" not in op
    assert meta["batchStats"] == {"requestCount": "4", "pendingRequestCount": "4"}
    assert meta["@type"].endswith(".v1beta.GenerateContentBatch") and meta["displayName"] == "camel"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", meta["createTime"])

    emulator.advance(45)
    assert get(emulator, op["name"])["metadata"]["state"] == "BATCH_STATE_RUNNING"
    emulator.advance(45)
    done = get(emulator, op["name"])
    assert done["done"] is True and done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert done["metadata"]["batchStats"] == {"requestCount": "4", "successfulRequestCount": "3", "failedRequestCount": "1"}
    assert done["metadata"]["output"] == {k: v for k, v in done["response"].items() if k != "@type"}
    inlined = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert sorted(r["metadata"]["key"] for r in inlined) == ["p0", "p1", "p2", "p3"]
    assert sum("error" in r for r in inlined) == 1
    assert {"code", "message"} <= set(next(r for r in inlined if "error" in r)["error"])


def test_snake_case_bodies_and_the_v1_prefix_are_accepted(emulator):
    op = create(emulator, 2, snake=True)
    assert op["metadata"]["displayName"] == "snake"
    v1 = get(emulator, op["name"], version="v1")
    assert v1["metadata"]["@type"].endswith(".v1.GenerateContentBatch") and v1["done"] is True


def test_the_key_in_the_query_string_works_but_is_counted(emulator):
    r = requests.get(f"{emulator.url}/v1beta/batches?key=k", timeout=5)
    assert r.status_code == 200 and r.json() == {}  # proto3 JSON omits an empty list
    requests.get(f"{emulator.url}/v1beta/batches", headers=KEY, timeout=5)
    assert emulator.stats()["key_in_query"] == 1


def test_a_missing_key_is_403_and_errors_use_the_google_shape(emulator):
    r = requests.get(f"{emulator.url}/v1beta/batches", timeout=5)
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = requests.get(f"{emulator.url}/v1beta/batches/nope", headers=KEY, timeout=5)
    assert r.status_code == 404 and r.json()["error"] == {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    for bad in ({}, {"batch": {}}, {"batch": {"inputConfig": {"requests": {"requests": []}}}},
                {"batch": {"inputConfig": {"fileName": "files/x", "requests": {"requests": [{}]}}}}):
        r = requests.post(emulator.url + MODEL_PATH, json=bad, headers=KEY, timeout=5)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", bad
    r = requests.post(emulator.url + MODEL_PATH, json={"batch": {"inputConfig": {"fileName": "files/none"}}},
                      headers=KEY, timeout=5)
    assert r.status_code == 403


def test_an_inline_create_over_the_payload_limit_is_a_400_like_the_real_api():
    with Emulator(inline_limit_bytes=2000) as emu:
        r = requests.post(emu.url + MODEL_PATH, json=inline_body(40), headers=KEY, timeout=5)
        assert r.status_code == 400 and "payload size exceeds the limit: 2000" in r.json()["error"]["message"]
        assert emu.stats()["gemini"]["batches_created"] == 0


def test_the_upload_protocol_headers_urls_and_finalize_body(emulator):
    data = jsonl(30)
    start = requests.post(f"{emulator.url}/upload/v1beta/files", headers={
        **KEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)), "X-Goog-Upload-Header-Content-Type": "jsonl"},
        json={"file": {"displayName": "camel-name"}})
    url = start.headers["X-Goog-Upload-URL"]
    assert url.startswith(f"{emulator.url}/upload/v1beta/files?upload_id=")
    r = requests.post(url, data=data[:100], headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"})
    assert r.headers["X-Goog-Upload-Status"] == "active"
    r = requests.post(url, data=data[300:], headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "300"})
    assert r.status_code == 400 and r.headers["X-Goog-Upload-Status"] == "final"  # a gap is refused
    r = requests.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert r.headers["X-Goog-Upload-Size-Received"] == "100"
    r = requests.post(url, data=iter([data[100:200], data[200:]]),  # a chunked (generator) body
                      headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "100"})
    assert r.status_code == 200 and r.headers["X-Goog-Upload-Status"] == "final"
    f = r.json()["file"]
    assert f["displayName"] == "camel-name" and f["mimeType"] == "jsonl" and f["sizeBytes"] == str(len(data))
    assert f["state"] == "ACTIVE" and f["source"] == "UPLOADED" and f["uri"].startswith(emulator.url)
    r = requests.post(url, data=b"x", headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"})
    assert r.status_code == 404 and r.headers["X-Goog-Upload-Status"] == "final"  # the session is over
    assert emulator.stats()["gemini"]["bytes_uploaded"] == len(data)


def test_file_mode_output_lines_and_both_download_paths(emulator):
    emulator.set_faults(error_rate=0.1)
    f = upload(emulator, jsonl(20))
    r = requests.post(emulator.url + MODEL_PATH, headers=KEY, timeout=5,
                      json={"batch": {"display_name": "files", "input_config": {"file_name": f["name"]}}})
    assert r.json()["metadata"]["inputConfig"] == {"fileName": f["name"]}
    done = get(emulator, r.json()["name"])
    out = done["metadata"]["output"]["responsesFile"]
    assert done["response"]["responsesFile"] == out and out.startswith("files/batch-")
    sdk_path = requests.get(f"{emulator.url}/v1beta/{out}:download?alt=media", headers=KEY, timeout=5)
    docs_path = requests.get(f"{emulator.url}/download/v1/{out}:download", params={"alt": "media"}, headers=KEY)
    assert sdk_path.status_code == docs_path.status_code == 200 and sdk_path.content == docs_path.content
    lines = [json.loads(x) for x in sdk_path.text.splitlines()]
    assert sorted(x["key"] for x in lines) == sorted(f"p{i}" for i in range(20))
    errors = [x for x in lines if "error" in x]
    assert len(errors) == 2 and all(set(x) == {"key", "error"} and set(x["error"]) == {"code", "message"} for x in errors)
    assert all(set(x) == {"key", "response"} for x in lines if "error" not in x)
    meta = get(emulator, out)
    assert meta["source"] == "GENERATED" and meta["sizeBytes"] == str(len(sdk_path.content))
    assert meta["downloadUri"].startswith(f"{emulator.url}/download/")


def test_a_truncated_download_breaks_mid_line_and_gone_results_are_404(emulator):
    f = upload(emulator, jsonl(40))
    op = requests.post(emulator.url + MODEL_PATH, headers=KEY, json={"batch": {"inputConfig": {"fileName": f["name"]}}}).json()
    out = get(emulator, op["name"])["metadata"]["output"]["responsesFile"]
    emulator.set_faults(truncate_results=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _ = requests.get(f"{emulator.url}/v1beta/{out}:download?alt=media", headers=KEY, timeout=5).content
    whole = requests.get(f"{emulator.url}/v1beta/{out}:download?alt=media", headers=KEY, timeout=5)
    assert len(whole.text.splitlines()) == 40
    emulator.set_faults(results_gone=True)
    assert requests.get(f"{emulator.url}/v1beta/{out}:download?alt=media", headers=KEY).status_code == 404


def test_a_scripted_429_carries_retry_info_and_a_dropped_create_still_creates(emulator):
    emulator.set_faults(http_errors={"gemini.create": [429]}, retry_after=1.5, drop_create_response=1)
    r = requests.post(emulator.url + MODEL_PATH, json=inline_body(1), headers=KEY, timeout=5)
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    retry = [d for d in r.json()["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]
    with pytest.raises(requests.ConnectionError):
        requests.post(emulator.url + MODEL_PATH, json=inline_body(1), headers=KEY, timeout=5)
    listed = requests.get(f"{emulator.url}/v1beta/batches", headers=KEY).json()["operations"]
    assert len(listed) == 1 and listed[0]["metadata"]["displayName"] == "camel"
    stats = emulator.stats()["gemini"]
    assert stats["create"] == 2 and stats["batches_created"] == 1


def test_list_pages_with_tokens_newest_first(emulator):
    names = [create(emulator, 1)["name"] for _ in range(5)]
    seen, token = [], None
    while True:
        page = requests.get(f"{emulator.url}/v1beta/batches", headers=KEY,
                            params={"pageSize": 2, **({"pageToken": token} if token else {})}).json()
        seen += [op["name"] for op in page["operations"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == names[::-1]


def test_cancel_and_delete_answer_an_empty_object_with_200(emulator):
    emulator.set_faults(processing_seconds=60)
    op = create(emulator)
    bare = op["name"]
    r = requests.post(f"{emulator.url}/v1beta/{bare}:cancel", headers=KEY)
    assert (r.status_code, r.json()) == (200, {})
    state = get(emulator, bare)
    assert state["metadata"]["state"] == "BATCH_STATE_CANCELLED" and state["done"] is True
    assert "output" not in state["metadata"]
    r = requests.delete(f"{emulator.url}/v1beta/{bare}", headers=KEY)
    assert (r.status_code, r.json()) == (200, {})
    assert requests.get(f"{emulator.url}/v1beta/{bare}", headers=KEY).status_code == 404
