"""The OpenAI Batch API client against the emulator, over real sockets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from seobatch.config import Settings
from seobatch.db import utcnow
from seobatch.emulator import Emulator
from seobatch.errors import AmbiguousCreate, ConfigError, PermanentError, ResultsUnavailable, TransientError
from seobatch.providers import get_provider, provider_name
from seobatch.providers.base import BatchRequest, Prompt
from seobatch.providers.openai import OpenAIBatches, parse_result_line

MODEL = "gpt-4o-mini"
KEY = "sk-proj-CANARY0123456789abcdef"


def client(emu, **kw) -> OpenAIBatches:
    kw.setdefault("sleep", lambda s: None)
    return OpenAIBatches(KEY, f"{emu.url}/v1", **kw)


def build(c: OpenAIBatches, n: int, *, model: str = MODEL, start: int = 0) -> list[BatchRequest]:
    return [c.build_request(f"j1p{i}", Prompt("You write SEO metadata as JSON.",
                                              f"URL: https://shop.test/p/{i}\nTitle: Oak dining chair {i}"),
                            model=model, max_tokens=400) for i in range(start, start + n)]


def run(emu, c: OpenAIBatches, reqs, name: str = "seobatch-job-1-abc", model: str = MODEL):
    created = c.create_batch(reqs, model=model, display_name=name)
    return created, c.get_batch(created.id)


def results(c: OpenAIBatches, info) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in c.iter_results(info):
        assert item.custom_id not in out, f"{item.custom_id} twice"
        out[item.custom_id] = item
    return out


def test_requests_ask_for_the_seo_object_with_a_strict_json_schema():
    c = OpenAIBatches(KEY)
    body = c.build_request("j1p1", Prompt("sys", "page"), model="gpt-4o-mini", max_tokens=300).body
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["title", "meta_description"]
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and "reasoning_effort" not in body
    reasoning = c.build_request("j1p1", Prompt("sys", "page"), model="o4-mini", max_tokens=300).body
    assert [m["role"] for m in reasoning["messages"]] == ["developer", "user"]
    assert reasoning["reasoning_effort"] == "low"


def test_a_batch_is_uploaded_created_with_metadata_polled_and_read(emulator):
    emulator.set_faults(processing_seconds=0.2)
    c = client(emulator)
    created, _ = run(emulator, c, build(c, 8))
    assert created.state == "in_progress" and created.provider_state == "validating"
    assert created.display_name == "seobatch-job-1-abc" and created.created_at is not None
    emulator.advance(1)
    info = c.get_batch(created.id)
    assert (info.state, info.ending, info.request_count) == ("ended", "succeeded", 8)
    assert info.counts["succeeded"] == 8 and info.counts["processing"] == 0
    got = results(c, info)
    assert sorted(got) == sorted(f"j1p{i}" for i in range(8))
    for item in got.values():
        assert item.outcome == "succeeded" and item.input_tokens > 0 and item.output_tokens > 0
        assert json.loads(item.text)["title"].startswith("Oak dining chair")
    # What went on the wire: one upload (a .jsonl name), one create.
    batch = requests.get(f"{emulator.url}/v1/batches/{created.id}", headers={"Authorization": "Bearer x"}).json()
    assert batch["metadata"]["seobatch_job"] == "seobatch-job-1-abc"
    assert batch["endpoint"] == "/v1/chat/completions"
    file = requests.get(f"{emulator.url}/v1/files/{batch['input_file_id']}", headers={"Authorization": "Bearer x"})
    assert file.json()["filename"] == "seobatch-job-1-abc.jsonl"
    s = emulator.stats()["openai"]
    assert (s["upload"], s["create"], s["batches_created"]) == (1, 1, 1)


def test_routing_settings_and_a_missing_key():
    for model in ("gpt-4o-mini", "gpt-5", "o1", "o3", "o3-mini", "o4-mini", "o1-2024-12-17"):
        assert provider_name(model) == "openai", model
    for model in ("omni-1", "o", "openai-x", "llama-3-70b"):
        with pytest.raises(ConfigError, match=r"claude-\*.*gemini-\*.*gpt-\*"):
            provider_name(model)
    settings = Settings.from_env({"OPENAI_API_KEY": " sk-x \n", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"})
    assert settings.openai_base_url == "http://127.0.0.1:9/v1" and settings.api_key_for("openai") == "sk-x"
    assert "sk-x" in settings.secrets() and "sk-x" not in repr(settings)
    assert Settings.from_env({}).openai_base_url == "https://api.openai.com/v1"
    provider = get_provider("gpt-4o-mini", settings)
    assert isinstance(provider, OpenAIBatches) and "127.0.0.1:9/v1" in repr(provider)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        get_provider("o4-mini", Settings.from_env({}))


def test_a_completed_batch_without_an_output_file_reads_the_error_file(emulator):
    emulator.set_faults(error_rate=1.0)
    c = client(emulator)
    _, info = run(emulator, c, build(c, 5))
    assert info.ending == "succeeded" and info.counts["errored"] == 5
    got = results(c, info)
    assert len(got) == 5
    assert all(r.outcome == "errored" and "HTTP 500" in r.error for r in got.values())


def test_a_request_that_timed_out_in_a_completed_batch_is_expired_not_errored(emulator):
    emulator.set_faults(expire_rate=1.0)
    c = client(emulator)
    _, info = run(emulator, c, build(c, 3))
    assert info.ending == "succeeded"
    assert {(r.outcome, r.error) for r in results(c, info).values()} == {("expired", "request_timeout")}


def test_a_4xx_line_with_error_null_is_errored_with_the_endpoints_message(emulator):
    c = client(emulator)
    # A body a reasoning model rejects (max_tokens): the 400 shows only in the error file.
    reqs = [BatchRequest(f"j1p{i}", {"model": "o4-mini", "max_tokens": 50,
                                     "messages": [{"role": "user", "content": "x"}]}) for i in range(3)]
    _, info = run(emulator, c, reqs, model="o4-mini")
    got = results(c, info)
    assert {r.outcome for r in got.values()} == {"errored"}
    assert all(r.error.startswith("invalid_request_error (HTTP 400): Unsupported parameter: 'max_tokens'")
               for r in got.values())


def test_result_lines_map_to_exactly_one_outcome_each():
    ok = {"status_code": 200, "body": {"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}],
                                       "usage": {"prompt_tokens": 7, "completion_tokens": 3}}}
    cases = {
        json.dumps({"custom_id": "a", "response": ok, "error": None}): ("succeeded", None),
        json.dumps({"custom_id": "b", "response": None, "error": {"code": "batch_expired"}}): (
            "expired", "batch_expired"),
        json.dumps({"custom_id": "c", "response": None, "error": {"code": "batch_cancelled"}}): (
            "canceled", "batch_cancelled"),
        json.dumps({"custom_id": "d", "response": {"status_code": 429, "body": {"error": {
            "type": "rate_limit_exceeded", "message": "slow down"}}}, "error": None}): (
            "errored", "rate_limit_exceeded (HTTP 429): slow down"),
        json.dumps({"custom_id": "e", "response": {"status_code": 200, "body": {"choices": [
            {"message": {"content": None, "refusal": "no"}, "finish_reason": "stop"}]}}}): ("errored", "refusal"),
        json.dumps({"custom_id": "f"}): ("errored", "malformed_result: neither a response nor an error"),
        '{"custom_id":"g","response":{"status_co': ("errored", "malformed_result: line is not valid JSON"),
    }
    for line, (outcome, error) in cases.items():
        item = parse_result_line(line.encode())
        assert (item.outcome, item.error) == (outcome, error), line
    assert parse_result_line(json.dumps({"custom_id": "a", "response": ok}).encode()).input_tokens == 7
    assert parse_result_line(b'{"no": "id"}') is None


def test_a_batch_failed_at_validation_names_the_lines(emulator):
    c = client(emulator)
    reqs = build(c, 2) + [BatchRequest("j1p9", {**build(c, 1)[0].body_dict(), "model": "gpt-4.1-mini"})]
    _, info = run(emulator, c, reqs)
    assert (info.state, info.ending) == ("ended", "failed")
    assert info.error.startswith("line 3: model_mismatch: The model 'gpt-4.1-mini' differs")
    emulator.set_faults(batch_outcome="fail")
    _, quota = run(emulator, c, build(c, 1), name="other")
    assert quota.ending == "failed" and quota.error.startswith("token_limit_exceeded: Enqueued token limit")


def test_cancelling_is_not_terminal_and_a_cancelled_batch_keeps_its_results(emulator):
    emulator.set_faults(processing_seconds=4.0)
    c = client(emulator)
    created, _ = run(emulator, c, build(c, 20))
    emulator.advance(2.0)
    cancelling = c.cancel_batch(created.id)
    assert (cancelling.state, cancelling.provider_state) == ("in_progress", "cancelling")
    assert c.get_batch(created.id).state == "in_progress"
    with pytest.raises(TransientError, match="has not ended"):
        list(c.iter_results(cancelling))
    emulator.advance(2.0)
    info = c.get_batch(created.id)
    assert (info.state, info.ending) == ("ended", "canceled")
    got = results(c, info)
    outcomes = [r.outcome for r in got.values()]
    assert len(got) == 20 and "succeeded" in outcomes and "canceled" in outcomes
    assert set(outcomes) == {"succeeded", "canceled"}
    assert c.cancel_batch(created.id).ending == "canceled"  # canceling again: the ended batch as it is


def test_an_expired_batch_keeps_its_finished_half(emulator):
    emulator.set_faults(batch_outcome="expire")
    c = client(emulator)
    _, info = run(emulator, c, build(c, 10))
    assert info.ending == "expired" and info.counts["expired"] == 5 and info.counts["succeeded"] == 5
    outcomes = sorted(r.outcome for r in results(c, info).values())
    assert outcomes == ["expired"] * 5 + ["succeeded"] * 5


def test_a_lost_create_reply_is_found_again_by_its_metadata(emulator):
    c = client(emulator)
    started = utcnow() - timedelta(seconds=5)
    run(emulator, c, build(c, 3), name="seobatch-job-2-other")  # another job's batch of the same size
    emulator.set_faults(drop_create_response=1)
    with pytest.raises(AmbiguousCreate):
        c.create_batch(build(c, 3), model=MODEL, display_name="seobatch-job-1-abc")
    found = c.find_batches(display_name="seobatch-job-1-abc", created_after=started, request_count=3)
    assert len(found) == 1 and found[0].display_name == "seobatch-job-1-abc"
    assert c.find_batch(display_name="seobatch-job-1-abc", created_after=started, request_count=3).id == found[0].id
    assert emulator.stats()["openai"]["batches_created"] == 2
    later = utcnow() + timedelta(minutes=1)
    assert c.find_batches(display_name="seobatch-job-1-abc", created_after=later, request_count=3) == []


def test_reconciliation_pages_through_the_list(emulator):
    c = client(emulator)
    c.list_page_size = 2
    started = utcnow() - timedelta(seconds=5)
    target, _ = run(emulator, c, build(c, 1), name="wanted")
    for i in range(5):
        run(emulator, c, build(c, 1), name=f"noise-{i}")
    found = c.find_batches(display_name="wanted", created_after=started, request_count=1)
    assert [b.id for b in found] == [target.id]
    assert emulator.stats()["openai"]["list"] == 3  # 6 batches, 2 a page


def test_create_retries_a_429_once_and_never_a_5xx(emulator):
    c = client(emulator)
    emulator.set_faults(http_errors={"openai.create": [429]})
    run(emulator, c, build(c, 1))
    assert emulator.stats()["openai"]["batches_created"] == 1 and emulator.stats()["openai"]["create"] == 2
    emulator.set_faults(http_errors={"openai.create": [500]})
    with pytest.raises(AmbiguousCreate):
        c.create_batch(build(c, 1), model=MODEL, display_name="x")
    assert emulator.stats()["openai"]["file_delete"] == 0  # the batch may exist: its input stays


def test_a_refused_create_deletes_its_input_file_and_uploads_are_retried(emulator):
    c = client(emulator)
    emulator.set_faults(http_errors={"openai.upload": [503], "openai.create": [400]})
    with pytest.raises(PermanentError):
        c.create_batch(build(c, 1), model=MODEL, display_name="x")
    s = emulator.stats()["openai"]
    assert (s["upload"], s["file_delete"]) == (2, 1)
    listed = requests.get(f"{emulator.url}/v1/files", headers={"Authorization": "Bearer x"}).json()
    assert listed["data"] == []


def test_cleanup_deletes_the_input_output_and_error_files_of_an_ended_batch_only(emulator):
    emulator.set_faults(processing_seconds=1.0, error_rate=0.5)
    c = client(emulator)
    created, running = run(emulator, c, build(c, 4))
    c.delete_files(running)
    assert emulator.stats()["openai"]["file_delete"] == 0
    emulator.advance(2)
    info = c.get_batch(created.id)
    files = [f for f in info.results_ref.split(",") if f]
    assert len(files) == 3
    c.delete_files(info)
    c.delete_files(info)  # twice: already gone is fine
    for f in files:
        assert requests.get(f"{emulator.url}/v1/files/{f}", headers={"Authorization": "Bearer x"}).status_code == 404


def test_truncated_and_gone_results(emulator):
    c = client(emulator)
    _, info = run(emulator, c, build(c, 40))
    emulator.set_faults(truncate_results=1)
    with pytest.raises(TransientError, match="truncated"):
        list(c.iter_results(info))
    emulator.set_faults(results_gone=True)
    with pytest.raises(ResultsUnavailable):
        list(c.iter_results(info))


def test_a_wrong_key_is_refused_without_the_key_in_the_message():
    with Emulator(api_key="right") as emu, pytest.raises(PermanentError) as info:
        client(emu).get_batch("batch_x")
    assert info.value.status == 401 and KEY not in str(info.value)


def test_over_the_limits_is_refused_before_anything_is_sent(emulator):
    c = client(emulator, max_requests=3)
    with pytest.raises(PermanentError, match="at most 3 requests"):
        c.create_batch(build(c, 4), model=MODEL, display_name="x")
    c = client(emulator, max_body_bytes=1000)
    with pytest.raises(PermanentError, match="exceeds 1000 bytes"):
        c.create_batch(build(c, 4), model=MODEL, display_name="x")
    with pytest.raises(PermanentError, match="twice"):
        client(emulator).create_batch(build(c, 1) + build(c, 1), model=MODEL, display_name="x")
    assert emulator.stats()["openai"]["upload"] == 0
