"""The official ``openai`` SDK, unchanged and validating strictly, against the emulator."""

from __future__ import annotations

import json
import time

import openai
import pytest

from seobatch.emulator import Emulator

MODEL = "gpt-4o-mini"


def client_for(emu, **kw) -> openai.OpenAI:
    kw.setdefault("api_key", "test")
    kw.setdefault("max_retries", 0)
    # Strict: a missing or mistyped required field raises APIResponseValidationError.
    client = openai.OpenAI(base_url=f"{emu.url}/v1", _strict_response_validation=True, **kw)
    assert client._strict_response_validation
    return client


def jsonl(n: int, *, start: int = 0, model: str = MODEL, extra: dict | None = None) -> bytes:
    lines = []
    for i in range(start, start + n):
        body = {"model": model, "max_completion_tokens": 400, "messages": [
            {"role": "system", "content": "You write SEO titles and meta descriptions as JSON."},
            {"role": "user", "content": (f"URL: https://shop.example.com/products/item-{i}\n"
                                         f"Title: Handmade oak chair model {i}\n<page>\nA sturdy chair.\n</page>")}],
            **(extra or {})}
        lines.append(json.dumps({"custom_id": f"p{i}", "method": "POST", "url": "/v1/chat/completions",
                                 "body": body}))
    return ("\n".join(lines) + "\n").encode()


def upload(client: openai.OpenAI, data: bytes, name: str = "pages.jsonl"):
    return client.files.create(file=(name, data, "application/jsonl"), purpose="batch")


def wait_terminal(client: openai.OpenAI, batch_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled") or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def lines_of(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line.strip()]


def test_files_create_retrieve_content_and_delete(emulator):
    client = client_for(emulator)
    data = jsonl(3)
    created = upload(client, data)
    assert created.id.startswith("file-") and created.object == "file"
    assert created.purpose == "batch" and created.status == "processed"
    assert created.bytes == len(data) and created.filename == "pages.jsonl"

    got = client.files.retrieve(created.id)
    assert got.id == created.id and got.bytes == len(data)
    assert client.files.content(created.id).read() == data
    assert [f.id for f in client.files.list(purpose="batch")] == [created.id]

    deleted = client.files.delete(created.id)
    assert deleted.id == created.id and deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_an_upload_without_a_jsonl_name_is_refused_with_the_real_message(emulator):
    client = client_for(emulator)
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("pages.txt", jsonl(1), "text/plain"), purpose="batch")
    assert "Must be .jsonl" in info.value.message and info.value.param == "file"
    with pytest.raises(openai.BadRequestError, match="utf-8"):
        upload(client, b'{"custom_id": "\xff"}\n')


def test_a_batch_runs_to_completed_with_one_output_line_per_request(emulator):
    emulator.set_faults(processing_seconds=0.3)
    client = client_for(emulator)
    file = upload(client, jsonl(6))
    created = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                    completion_window="24h", metadata={"seobatch_job": "job-1"})
    assert created.id.startswith("batch_") and created.status == "validating"
    assert created.metadata == {"seobatch_job": "job-1"} and created.request_counts.total == 0
    assert created.output_file_id is None and created.expires_at - created.created_at == 86400

    done = wait_terminal(client, created.id)
    assert done.status == "completed" and done.completed_at is not None and done.in_progress_at is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (6, 6, 0)
    assert done.error_file_id is None and done.model == MODEL
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    out = lines_of(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in out) == [f"p{i}" for i in range(6)]
    for line in out:
        assert line["error"] is None and line["response"]["status_code"] == 200
        completion = openai.types.chat.ChatCompletion.model_validate(line["response"]["body"], strict=False)
        fields = json.loads(completion.choices[0].message.content)
        assert 10 <= len(fields["title"]) <= 70 and 50 <= len(fields["meta_description"]) <= 170
        assert "oak chair" in fields["title"].lower()
        assert completion.usage.prompt_tokens > 10 and completion.choices[0].finish_reason == "stop"
    assert client.files.retrieve(done.output_file_id).purpose == "batch_output"


def test_the_list_pages_with_after_and_limit_newest_first(emulator):
    client = client_for(emulator)
    file = upload(client, jsonl(1))
    ids = [client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                 completion_window="24h").id for _ in range(5)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]  # the SDK pages with after=<last id>
    last = client.batches.list(limit=2, after=ids[1])
    assert [b.id for b in last.data] == [ids[0]] and not last.has_more


def test_cancel_answers_cancelling_then_cancelled_with_partial_results(emulator):
    emulator.set_faults(processing_seconds=2.0)
    client = client_for(emulator)
    file = upload(client, jsonl(20))
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    emulator.advance(1.0)  # half done
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    assert client.batches.retrieve(batch.id).status == "cancelling"  # not terminal yet
    emulator.advance(1.0)
    done = client.batches.retrieve(batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None
    out, err = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert out and err and len(out) + len(err) == 20
    assert {line["error"]["code"] for line in err} == {"batch_cancelled"}
    assert done.request_counts.completed == len(out) and done.request_counts.failed == 0  # unfinished: nowhere
    with pytest.raises(openai.BadRequestError, match="Cannot cancel"):
        client.batches.cancel(batch.id)


def test_an_expired_batch_keeps_its_finished_half(emulator):
    emulator.set_faults(batch_outcome="expire")
    client = client_for(emulator)
    file = upload(client, jsonl(10))
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = wait_terminal(client, batch.id)
    assert done.status == "expired" and done.expired_at is not None
    out, err = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert len(out) == 5 and len(err) == 5
    assert all(line["error"]["code"] == "batch_expired" and line["response"] is None for line in err)


def test_request_errors_are_in_the_error_file_as_http_statuses_with_error_null(emulator):
    emulator.set_faults(error_rate=1.0)
    client = client_for(emulator)
    file = upload(client, jsonl(4))
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = wait_terminal(client, batch.id)
    assert done.status == "completed" and done.output_file_id is None  # every request failed
    assert done.request_counts.failed == 4
    err = lines_of(client, done.error_file_id)
    assert len(err) == 4
    assert all(line["error"] is None and line["response"]["status_code"] == 500 for line in err)


def test_a_bad_input_file_fails_the_batch_at_validation_with_line_numbers(emulator):
    client = client_for(emulator)
    data = jsonl(2) + b"{not json\n" + jsonl(1, start=0)  # line 3 broken, line 4 repeats p0
    file = upload(client, data)
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating"
    done = wait_terminal(client, batch.id)
    assert done.status == "failed" and done.failed_at is not None
    assert done.output_file_id is None and done.error_file_id is None
    assert [(e.code, e.line) for e in done.errors.data] == [("invalid_json_line", 3), ("duplicate_custom_id", 4)]


def test_the_sdk_raises_its_own_error_classes(emulator):
    client = client_for(emulator)
    with pytest.raises(openai.BadRequestError, match="24h"):
        client.batches.create(input_file_id="file-x", endpoint="/v1/chat/completions",
                              completion_window="5m")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")
    emulator.set_faults(http_errors={"openai.create": [429], "openai.get": [503], "openai.list": [500]},
                        retry_after=0.01)
    file = upload(client, jsonl(1))
    with pytest.raises(openai.RateLimitError) as rate:
        client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert rate.value.response.headers["retry-after-ms"] == "10"
    assert rate.value.request_id and rate.value.request_id.startswith("req_")
    with pytest.raises(openai.InternalServerError):
        client.batches.retrieve("batch_missing")
    with pytest.raises(openai.InternalServerError):
        client.batches.list()
    assert emulator.stats()["openai"]["batches_created"] == 0


def test_the_sdk_retries_a_429_and_creates_once(emulator):
    emulator.set_faults(http_errors={"openai.create": [429, 429]}, retry_after=0.01)
    client = client_for(emulator, max_retries=2)
    file = upload(client, jsonl(1))
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating"
    assert emulator.stats()["openai"]["create"] == 3 and emulator.stats()["openai"]["batches_created"] == 1


def test_a_wrong_key_is_an_authentication_error():
    with Emulator(api_key="right-key") as emu:
        client = client_for(emu, api_key="wrong-key")
        with pytest.raises(openai.AuthenticationError) as info:
            client.batches.list()
        assert info.value.code == "invalid_api_key" and "wrong-key" not in str(info.value)
        assert client_for(emu, api_key="right-key").batches.list().data == []


def test_anthropic_and_gemini_paths_still_route_to_their_apis(emulator):
    from seobatch.emulator import anthropic_api, gemini_api, openai_api
    from seobatch.emulator.server import Router

    assert Router.api_for_path("/v1/messages/batches") is anthropic_api
    assert Router.api_for_path("/v1/files/file-1/content") is openai_api
    assert Router.api_for_path("/v1/batches") is openai_api
    assert Router.api_for_path("/v1beta/batches/x") is gemini_api
