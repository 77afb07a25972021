"""OpenAI Files + Batches on the wire: the traps a client must survive, and the faults."""

from __future__ import annotations

import json

import pytest
import requests

from seobatch.emulator import Emulator

AUTH = {"Authorization": "Bearer test"}


def line(i: int, *, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions", **body) -> dict:
    return {"custom_id": f"p{i}", "method": "POST", "url": url, "body": {
        "model": model, "max_completion_tokens": 400,
        "messages": [{"role": "user", "content": f"URL: https://ex.com/p/{i}\nTitle: Oak chair number {i}"}],
        **body}}


def upload(emu, lines: list[dict] | bytes, name: str = "in.jsonl") -> str:
    data = lines if isinstance(lines, bytes) else "".join(json.dumps(x) + "\n" for x in lines).encode()
    resp = requests.post(f"{emu.url}/v1/files", headers=AUTH, data={"purpose": "batch"},
                         files={"file": (name, data, "application/jsonl")}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def create(emu, file_id: str, **extra) -> requests.Response:
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h", **extra}
    return requests.post(f"{emu.url}/v1/batches", headers=AUTH, json=body, timeout=10)


def batch(emu, batch_id: str) -> dict:
    resp = requests.get(f"{emu.url}/v1/batches/{batch_id}", headers=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def content(emu, file_id: str) -> list[dict]:
    resp = requests.get(f"{emu.url}/v1/files/{file_id}/content", headers=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text
    return [json.loads(x) for x in resp.content.splitlines() if x.strip()]


def run(emu, lines: list[dict]) -> dict:
    created = create(emu, upload(emu, lines))
    assert created.status_code == 200, created.text
    return batch(emu, created.json()["id"])


def test_every_reply_has_an_x_request_id_and_errors_have_the_four_keys(emulator):
    resp = requests.get(f"{emulator.url}/v1/batches/batch_nope", headers=AUTH, timeout=10)
    assert resp.status_code == 404 and resp.headers["x-request-id"].startswith("req_")
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
    missing = requests.get(f"{emulator.url}/v1/batches", timeout=10)
    assert missing.status_code == 401 and "API key" in missing.json()["error"]["message"]


def test_results_come_out_of_input_order_and_join_on_custom_id(emulator):
    done = run(emulator, [line(i) for i in range(40)])
    ids = [x["custom_id"] for x in content(emulator, done["output_file_id"])]
    assert sorted(ids, key=lambda c: int(c[1:])) == [f"p{i}" for i in range(40)]
    assert ids != [f"p{i}" for i in range(40)]


def test_a_request_the_endpoint_rejects_is_a_400_line_in_the_error_file_with_error_null(emulator):
    # Reasoning models reject max_tokens: in a batch that is one 400 line per request.
    done = run(emulator, [line(i, model="o4-mini", max_tokens=100) for i in range(3)])
    assert done["status"] == "completed" and done["output_file_id"] is None
    assert done["request_counts"] == {"total": 3, "completed": 0, "failed": 3}
    for x in content(emulator, done["error_file_id"]):
        assert x["error"] is None and x["response"]["status_code"] == 400
        assert "max_tokens" in x["response"]["body"]["error"]["message"]


def test_mismatched_urls_and_models_fail_validation_with_their_line_numbers(emulator):
    bad = [line(0), line(1, url="/v1/responses"), line(2, model="gpt-4.1-mini"), {"custom_id": "p3"}]
    done = run(emulator, bad)
    assert done["status"] == "failed" and done["request_counts"]["total"] == 0
    assert [(e["code"], e["line"]) for e in done["errors"]["data"]] == [
        ("url_mismatch", 2), ("model_mismatch", 3), ("invalid_request", 4)]


def test_an_empty_file_fails_validation_and_batch_outcome_fail_is_a_token_limit(emulator):
    done = run(emulator, [])
    assert done["status"] == "failed" and done["errors"]["data"][0]["code"] == "empty_file"
    emulator.set_faults(batch_outcome="fail")
    done = run(emulator, [line(0)])
    assert done["status"] == "failed" and done["errors"]["data"][0]["code"] == "token_limit_exceeded"
    assert done["errors"]["data"][0]["line"] is None


def test_create_checks_its_body(emulator):
    file_id = upload(emulator, [line(0)])
    assert create(emulator, file_id, completion_window="5m").status_code == 400
    assert create(emulator, file_id, endpoint="/v1/nope").status_code == 400
    too_many = {f"k{i}": "v" for i in range(17)}
    assert create(emulator, file_id, metadata=too_many).json()["error"]["param"] == "metadata"
    assert create(emulator, file_id, metadata={"k": "v" * 513}).status_code == 400
    assert create(emulator, "file-nope").status_code == 404
    assert emulator.stats()["openai"]["batches_created"] == 0


def test_a_broken_multipart_body_is_a_400_and_the_emulator_keeps_serving(emulator):
    cut_short = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\nabc'
    resp = requests.post(f"{emulator.url}/v1/files", data=cut_short,
                         headers={**AUTH, "content-type": "multipart/form-data; boundary=xyz"},
                         timeout=10)
    assert resp.status_code == 400 and "multipart" in resp.json()["error"]["message"]
    assert requests.get(f"{emulator.url}/v1/files", headers=AUTH, timeout=10).json()["data"] == []


def test_a_dropped_create_reply_still_made_the_batch_listed_with_its_metadata(emulator):
    file_id = upload(emulator, [line(0)])
    emulator.set_faults(drop_create_response=1)
    with pytest.raises(requests.ConnectionError):
        create(emulator, file_id, metadata={"seobatch_job": "job-7"})
    listed = requests.get(f"{emulator.url}/v1/batches", headers=AUTH, timeout=10).json()
    assert [b["metadata"] for b in listed["data"]] == [{"seobatch_job": "job-7"}]
    assert emulator.stats()["faults"]["dropped"] == 1


def test_truncated_and_gone_results_files(emulator):
    done = run(emulator, [line(i) for i in range(50)])
    emulator.set_faults(truncate_results=1)
    resp = requests.get(f"{emulator.url}/v1/files/{done['output_file_id']}/content", headers=AUTH, stream=True,
                        timeout=10)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        resp.content  # noqa: B018 - reading is the point
    emulator.set_faults(results_gone=True)
    gone = requests.get(f"{emulator.url}/v1/files/{done['output_file_id']}/content", headers=AUTH, timeout=10)
    assert gone.status_code == 404


def test_scripted_errors_delays_and_counts_are_per_openai_operation(emulator):
    emulator.set_faults(http_errors={"openai.upload": [503]}, retry_after=2.5)
    resp = requests.post(f"{emulator.url}/v1/files", headers=AUTH, data={"purpose": "batch"},
                         files={"file": ("a.jsonl", b"{}\n")}, timeout=10)
    assert resp.status_code == 503 and resp.headers["retry-after-ms"] == "2500"
    upload(emulator, [line(0)])
    stats = emulator.stats()["openai"]
    assert stats["upload"] == 2 and stats["bytes_uploaded"] > 0
    assert emulator.stats()["gemini"]["file_list"] == 0


def test_a_gemini_key_on_v1_paths_still_reaches_the_gemini_api(emulator):
    resp = requests.get(f"{emulator.url}/v1/batches", headers={"x-goog-api-key": "k"}, timeout=10)
    assert resp.status_code == 200 and "object" not in resp.json()  # Gemini's list shape
    assert emulator.stats()["gemini"]["list"] == 1 and emulator.stats()["openai"]["list"] == 0


def test_malformed_replies_include_refusals_with_content_null():
    with Emulator(faults={"malformed_rate": 1.0}) as emu:
        done = run(emu, [line(i) for i in range(40)])
        bodies = [x["response"]["body"]["choices"][0] for x in content(emu, done["output_file_id"])]
    refusals = [c for c in bodies if c["message"]["refusal"]]
    assert refusals and all(c["message"]["content"] is None for c in refusals)
    assert any(c["finish_reason"] == "length" for c in bodies)
