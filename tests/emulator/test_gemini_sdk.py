"""The official ``google-genai`` SDK, unchanged, against the emulator on /v1beta and /v1."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from google import genai
from google.genai import errors, types

from seobatch.emulator import Emulator

VERSIONS = ("v1beta", "v1")
DONE = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def client_for(emu, version: str, key: str = "test") -> genai.Client:
    return genai.Client(api_key=key, http_options={"base_url": emu.url, "api_version": version})


def prompt(i: int) -> str:
    return f"URL: https://blog.example.org/posts/walking-{i}\nTitle: Walking in the hills, part {i}\n<page>hills</page>"


def inline_requests(n: int) -> list[dict]:
    return [{"contents": [{"parts": [{"text": prompt(i)}], "role": "user"}],
             "metadata": {"key": f"p{i}"}, "config": {"max_output_tokens": 400}} for i in range(n)]


def write_jsonl(path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"key": f"p{i}", "request": {
                "contents": [{"role": "user", "parts": [{"text": prompt(i)}]}],
                "generationConfig": {"maxOutputTokens": 400}}}) + "\n")


def wait_done(client: genai.Client, name: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        job = client.batches.get(name=name)
        if job.state.name in DONE or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def check_reply(text: str) -> None:
    fields = json.loads(text)
    assert 10 <= len(fields["title"]) <= 70 and 50 <= len(fields["meta_description"]) <= 170
    assert "Walking in the hills" in fields["title"]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sdk_creates_inline_polls_to_succeeded_and_reads_inlined_responses(emulator, version):
    emulator.set_faults(processing_seconds=0.3)
    client = client_for(emulator, version)

    job = client.batches.create(model="gemini-2.5-flash", src=inline_requests(4), config={"display_name": "nightly-1"})
    assert job.name.startswith("batches/") and job.state.name == "JOB_STATE_PENDING"
    assert job.display_name == "nightly-1" and job.create_time is not None

    job = wait_done(client, job.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED" and job.end_time >= job.create_time
    responses = job.dest.inlined_responses
    assert sorted(r.metadata["key"] for r in responses) == ["p0", "p1", "p2", "p3"]
    for r in responses:
        check_reply(r.response.text)
        usage = r.response.usage_metadata
        assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert emulator.stats()["gemini"]["batches_created"] == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sdk_uploads_a_jsonl_file_creates_from_it_and_downloads_the_responses_file(emulator, version, tmp_path):
    client = client_for(emulator, version)
    src = tmp_path / "input.jsonl"
    write_jsonl(src, 5)

    uploaded = client.files.upload(file=src, config={"mime_type": "jsonl", "display_name": "input"})
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == src.stat().st_size
    assert uploaded.state.name == "ACTIVE" and uploaded.display_name == "input"
    assert client.files.get(name=uploaded.name).size_bytes == uploaded.size_bytes

    job = wait_done(client, client.batches.create(model="gemini-2.5-flash", src=uploaded.name).name)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    lines = client.files.download(file=job.dest.file_name).decode().splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == [f"p{i}" for i in range(5)]
    for line in lines:
        response = types.GenerateContentResponse.model_validate(json.loads(line)["response"])
        check_reply(response.text)

    names = {f.name for f in client.files.list()}
    assert {uploaded.name, job.dest.file_name} <= names
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError):
        client.files.get(name=uploaded.name)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sdk_lists_across_pages_cancels_and_deletes(emulator, version):
    client = client_for(emulator, version)
    names = [client.batches.create(model="gemini-2.5-flash", src=inline_requests(1)).name for _ in range(3)]
    assert [j.name for j in client.batches.list(config={"page_size": 2})] == names[::-1]

    emulator.set_faults(processing_seconds=30)
    running = client.batches.create(model="gemini-2.5-flash", src=inline_requests(2))
    assert client.batches.cancel(name=running.name) is None
    cancelled = client.batches.get(name=running.name)
    assert cancelled.state.name == "JOB_STATE_CANCELLED" and cancelled.end_time is not None
    with pytest.raises(errors.ClientError) as exc:
        client.batches.cancel(name=running.name)
    assert exc.value.code == 400

    client.batches.delete(name=running.name)
    with pytest.raises(errors.ClientError) as exc:
        client.batches.get(name=running.name)
    assert exc.value.code == 404 and exc.value.status == "NOT_FOUND"
    assert running.name not in [j.name for j in client.batches.list()]


def test_a_multi_chunk_upload_over_8_mib_arrives_whole(emulator, tmp_path):
    data = b"".join(json.dumps({"key": f"p{i}", "pad": "x" * 1000}).encode() + b"\n" for i in range(9000))
    assert len(data) > 8 * 1024 * 1024
    src = tmp_path / "big.jsonl"
    src.write_bytes(data)
    client = client_for(emulator, "v1beta")  # keep a reference: a collected Client closes its transport
    uploaded = client.files.upload(file=src, config={"mime_type": "application/jsonl"})
    assert uploaded.size_bytes == len(data)
    assert base64.b64decode(uploaded.sha256_hash).decode() == hashlib.sha256(data).hexdigest()
    stats = emulator.stats()["gemini"]
    assert stats["upload"] == 2 and stats["bytes_uploaded"] == len(data)


def test_an_invalid_key_is_a_400_invalid_argument_with_reason_api_key_invalid():
    with Emulator(api_key="right") as emu:
        wrong, right = client_for(emu, "v1"), client_for(emu, "v1", key="right")
        with pytest.raises(errors.ClientError) as exc:
            wrong.batches.create(model="gemini-2.5-flash", src=inline_requests(1))
        assert exc.value.code == 400 and exc.value.status == "INVALID_ARGUMENT"
        assert exc.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert right.batches.create(model="gemini-2.5-flash", src=inline_requests(1))
        assert emu.stats()["gemini"]["batches_created"] == 1


def test_item_faults_show_as_errors_and_batch_outcomes_as_sdk_states(emulator):
    client = client_for(emulator, "v1beta")
    emulator.set_faults(error_rate=0.5)
    job = wait_done(client, client.batches.create(model="gemini-2.5-flash", src=inline_requests(4)).name)
    outcomes = sorted("error" if r.error else "response" for r in job.dest.inlined_responses)
    assert outcomes == ["error", "error", "response", "response"]

    emulator.set_faults(error_rate=0.0, processing_seconds=0.1)
    for outcome, state in (("expire", "JOB_STATE_EXPIRED"), ("fail", "JOB_STATE_FAILED"),
                           ("cancel", "JOB_STATE_CANCELLED")):
        emulator.set_faults(batch_outcome=outcome)
        job = wait_done(client, client.batches.create(model="gemini-2.5-flash", src=inline_requests(2)).name)
        assert job.state.name == state and job.dest is None
