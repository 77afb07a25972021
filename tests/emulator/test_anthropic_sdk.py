"""The official ``anthropic`` SDK, unchanged and validating strictly, against the emulator."""

from __future__ import annotations

import json
import time

import anthropic
import pytest


def client_for(emu, **kw) -> anthropic.Anthropic:
    kw.setdefault("api_key", "test")
    return anthropic.Anthropic(base_url=emu.url, _strict_response_validation=True, **kw)


def page_requests(n: int, *, start: int = 0, max_tokens: int = 400) -> list[dict]:
    return [
        {"custom_id": f"p{i}", "params": {
            "model": "claude-haiku-4-5", "max_tokens": max_tokens,
            "system": "You write SEO titles and meta descriptions as JSON.",
            "messages": [{"role": "user", "content": (
                f"URL: https://shop.example.com/products/item-{i}\nTitle: Handmade oak chair model {i}\n"
                "<page>\nA sturdy chair made of oak.\n</page>")}]}}
        for i in range(start, start + n)
    ]


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def test_the_sdk_creates_polls_to_ended_and_reads_every_result(emulator):
    emulator.set_faults(processing_seconds=0.3)
    client = client_for(emulator)

    created = client.messages.batches.create(requests=page_requests(6))
    assert created.id.startswith("msgbatch_")
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 6 and created.request_counts.succeeded == 0
    assert created.results_url is None and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600

    ended = wait_ended(client, created.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 6 and ended.request_counts.processing == 0
    assert ended.results_url.startswith(emulator.url + "/")

    results = list(client.messages.batches.results(created.id))
    assert sorted(r.custom_id for r in results) == [f"p{i}" for i in range(6)]
    for r in results:
        assert r.result.type == "succeeded"
        message = r.result.message
        assert message.stop_reason == "end_turn" and message.usage.service_tier == "batch"
        assert message.usage.input_tokens > 10 and message.usage.output_tokens > 10
        fields = json.loads(message.content[0].text)
        assert 10 <= len(fields["title"]) <= 70 and 50 <= len(fields["meta_description"]) <= 170
        assert "oak chair" in fields["title"]


def test_the_sdk_pages_through_the_list_newest_first(emulator):
    client = client_for(emulator)
    ids = [client.messages.batches.create(requests=page_requests(1, start=i)).id for i in range(5)]

    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # auto-paging
    # Paging backwards: the newer neighbours of ids[1] first, then the page before them.
    backwards = client.messages.batches.list(limit=2, before_id=ids[1])
    assert [b.id for b in backwards.data] == [ids[3], ids[2]] and backwards.has_more
    assert [b.id for b in backwards] == [ids[3], ids[2], ids[4]]


def test_the_sdk_cancels_a_batch_which_ends_with_canceled_and_maybe_succeeded_items(emulator):
    emulator.set_faults(processing_seconds=2.0)
    client = client_for(emulator)
    batch = client.messages.batches.create(requests=page_requests(40))
    emulator.advance(0.8)  # 40% done when the cancel arrives

    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    assert canceling.request_counts.processing == 40

    ended = wait_ended(client, batch.id)
    counts = ended.request_counts
    assert ended.processing_status == "ended"
    assert counts.canceled > 0 and counts.succeeded > 0 and counts.canceled + counts.succeeded == 40
    types = [r.result.type for r in client.messages.batches.results(batch.id)]
    assert types.count("canceled") == counts.canceled

    deleted = client.messages.batches.delete(batch.id)
    assert deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_the_sdk_sees_errored_expired_and_malformed_items_typed(emulator):
    emulator.set_faults(error_rate=0.2, expire_rate=0.1, malformed_rate=0.2)
    client = client_for(emulator)
    batch = client.messages.batches.create(requests=page_requests(20))
    ended = wait_ended(client, batch.id)
    assert (ended.request_counts.errored, ended.request_counts.expired, ended.request_counts.succeeded) == (4, 2, 14)

    results = list(client.messages.batches.results(batch.id))
    errored = [r for r in results if r.result.type == "errored"]
    assert len(errored) == 4
    assert errored[0].result.error.type == "error" and errored[0].result.error.error.type == "api_error"
    texts = [r.result.message.content[0].text if r.result.message.content else ""
             for r in results if r.result.type == "succeeded"]
    valid = 0
    for text in texts:
        try:
            f = json.loads(text)
            valid += 10 <= len(f["title"]) <= 70 and 50 <= len(f["meta_description"]) <= 170
        except (ValueError, KeyError, TypeError):
            pass
    assert valid == 10  # 14 succeeded, 4 of them malformed


def test_the_sdk_raises_its_own_error_classes_for_requests_the_api_refuses(emulator):
    client = client_for(emulator)
    duplicate = page_requests(2)
    duplicate[1]["custom_id"] = "p0"
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.batches.create(requests=duplicate)
    assert "custom_id" in str(exc.value) and exc.value.request_id.startswith("req_")
    assert exc.value.body["error"]["type"] == "invalid_request_error"

    bad_id = page_requests(1)
    bad_id[0]["custom_id"] = "https://example.com/page"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=bad_id)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=page_requests(1, max_tokens=0))
    with pytest.raises(anthropic.NotFoundError) as exc:
        client.messages.batches.retrieve("msgbatch_01doesnotexist")
    assert exc.value.request_id

    running = client.messages.batches.create(requests=page_requests(1))
    emulator.set_faults(processing_seconds=60)
    still_running = client.messages.batches.create(requests=page_requests(1))
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(still_running.id)
    assert client.messages.batches.delete(running.id).id == running.id
    assert emulator.stats()["anthropic"]["batches_created"] == 2


def test_the_sdk_gets_an_authentication_error_for_a_wrong_key():
    from seobatch.emulator import Emulator

    with Emulator(api_key="right-key") as emu:
        with pytest.raises(anthropic.AuthenticationError) as exc:
            client_for(emu, api_key="wrong-key").messages.batches.list()
        assert exc.value.body["error"]["type"] == "authentication_error"
        assert list(client_for(emu, api_key="right-key").messages.batches.list()) == []


def test_the_sdk_retries_429_and_529_using_the_retry_after_ms_hint_and_creates_once(emulator):
    emulator.set_faults(http_errors={"create": [429, 529]}, retry_after=0.01)
    client = client_for(emulator, max_retries=2)
    started = time.monotonic()
    batch = client.messages.batches.create(requests=page_requests(1))
    assert time.monotonic() - started < 1.0  # it waited milliseconds, not its own backoff
    stats = emulator.stats()
    assert stats["anthropic"]["create"] == 3 and stats["anthropic"]["batches_created"] == 1
    assert client.messages.batches.retrieve(batch.id).id == batch.id


def test_the_beta_client_uses_the_same_routes_with_beta_true(emulator):
    client = client_for(emulator)
    batch = client.beta.messages.batches.create(requests=page_requests(2))
    assert client.beta.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert sorted(r.custom_id for r in client.beta.messages.batches.results(batch.id)) == ["p0", "p1"]
