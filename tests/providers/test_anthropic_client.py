"""AnthropicBatches ↔ the emulator over real sockets: every operation and fault."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from fakehttp import CANARY_ANTHROPIC, FakeServer, Sleeps

from seobatch.errors import AmbiguousCreate, PermanentError, ResultsUnavailable, TransientError
from seobatch.providers.anthropic import AnthropicBatches, parse_result_line, supports_structured_output
from seobatch.providers.base import BatchInfo, BatchRequest, Prompt, outcome_for_missing

MODEL = "claude-sonnet-4-5"


def client(url: str, sleeps: Sleeps | None = None, **kw) -> AnthropicBatches:
    kw.setdefault("timeout", (2.0, 5.0))
    return AnthropicBatches(CANARY_ANTHROPIC, url, sleep=sleeps if sleeps is not None else Sleeps(), rng=lambda: 0.0, **kw)


def requests_for(c: AnthropicBatches, n: int, prefix: str = "p") -> list[BatchRequest]:
    return [
        c.build_request(
            f"{prefix}{i}",
            Prompt("You write SEO metadata.", f"URL: https://shop.test/item/{i}\nTitle: Blue Widget {i}\n\n<page>text</page>"),
            model=MODEL,
            max_tokens=300,
        )
        for i in range(n)
    ]


def assert_no_canary(exc: BaseException) -> None:
    assert CANARY_ANTHROPIC not in str(exc) and CANARY_ANTHROPIC not in repr(exc)


# ----------------------------------------------------------------- request building


def test_request_asks_for_the_json_object_without_sampling_params_or_prefill():
    c = AnthropicBatches(CANARY_ANTHROPIC, "http://127.0.0.1:9")
    req = c.build_request("p1", Prompt("sys", "URL: u\nTitle: t"), model=MODEL, max_tokens=256)
    body = req.body
    assert req.custom_id == "p1"
    assert body["model"] == MODEL and body["max_tokens"] == 256 and body["system"] == "sys"
    assert body["messages"] == [{"role": "user", "content": "URL: u\nTitle: t"}]
    assert body["output_config"]["format"]["schema"]["required"] == ["title", "meta_description"]
    assert not {"temperature", "top_p", "top_k"} & set(body)


def test_models_without_structured_outputs_get_an_instruction_instead():
    c = AnthropicBatches(CANARY_ANTHROPIC, "http://127.0.0.1:9")
    body = c.build_request("p1", Prompt("sys", "u"), model="claude-3-5-haiku-20241022", max_tokens=10).body
    assert "output_config" not in body and "meta_description" in body["system"]
    assert body["messages"][-1]["role"] == "user"


@pytest.mark.parametrize(
    "model,expected",
    [
        ("claude-sonnet-4-5", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-opus-4-6", True),
        ("claude-opus-5", True),
        ("claude-sonnet-5-5", True),
        ("claude-opus-4-1-20250805", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-3-7-sonnet-20250219", False),
    ],
)
def test_structured_outputs_are_used_from_the_4_5_generation_on(model, expected):
    assert supports_structured_output(model) is expected


def test_an_invalid_custom_id_is_refused_before_sending(fake: FakeServer):
    c = client(fake.url)
    with pytest.raises(PermanentError, match="custom_id"):
        c.create_batch([BatchRequest("bad id!", {})], model=MODEL, display_name="j")
    assert fake.seen == []


def test_duplicate_custom_ids_are_refused_before_sending(fake: FakeServer):
    c = client(fake.url)
    reqs = requests_for(c, 2) + requests_for(c, 1)
    with pytest.raises(PermanentError, match="twice"):
        c.create_batch(reqs, model=MODEL, display_name="j")
    assert fake.seen == []


def test_too_many_requests_are_refused_before_sending(fake: FakeServer, monkeypatch):
    import seobatch.providers.anthropic as mod

    monkeypatch.setattr(mod, "MAX_REQUESTS", 3)
    c = client(fake.url)
    with pytest.raises(PermanentError, match="at most 3"):
        c.create_batch(requests_for(c, 4), model=MODEL, display_name="j")
    assert fake.seen == []


def test_an_oversized_body_is_refused_before_sending(fake: FakeServer, monkeypatch):
    import seobatch.providers.anthropic as mod

    monkeypatch.setattr(mod, "MAX_BODY_BYTES", 2000)
    c = client(fake.url)
    with pytest.raises(PermanentError, match="2000 bytes"):
        c.create_batch(requests_for(c, 20), model=MODEL, display_name="j")
    assert fake.seen == []


def test_the_create_body_is_sent_with_a_length_and_parses_as_one_object(fake: FakeServer):
    fake.add(200, json.dumps({"id": "msgbatch_1", "processing_status": "in_progress",
                              "request_counts": {"processing": 3}, "created_at": "2026-11-28T18:37:24.100435Z"}))
    c = client(fake.url)
    info = c.create_batch(requests_for(c, 3), model=MODEL, display_name="job-7")
    seen = fake.seen[0]
    assert seen.headers["Content-Length"] == str(len(seen.body))
    assert seen.headers["x-api-key"] == CANARY_ANTHROPIC and seen.headers["anthropic-version"] == "2023-06-01"
    body = json.loads(seen.body)
    assert [r["custom_id"] for r in body["requests"]] == ["p0", "p1", "p2"]
    assert (info.id, info.state, info.request_count, info.display_name) == ("msgbatch_1", "in_progress", 3, "job-7")
    assert info.created_at == datetime(2026, 11, 28, 18, 37, 24, 100435)


# ----------------------------------------------------------------- operations


def test_create_get_and_results_round_trip_joined_by_custom_id(emulator):
    c = client(emulator.url)
    created = c.create_batch(requests_for(c, 12), model=MODEL, display_name="job-1")
    assert created.id.startswith("msgbatch_") and created.request_count == 12
    info = c.get_batch(created.id)
    assert (info.state, info.ending, info.counts["succeeded"]) == ("ended", "succeeded", 12)
    results = list(c.iter_results(info))
    ids = [r.custom_id for r in results]
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"p{i}" for i in range(12)]
    assert ids != sorted(ids, key=lambda s: int(s[1:]))  # the emulator shuffles: we join by id
    for r in results:
        n = r.custom_id[1:]
        assert r.outcome == "succeeded" and r.input_tokens > 0 and r.output_tokens > 0
        assert f"Blue Widget {n}" in json.loads(r.text)["title"]


def test_mixed_outcomes_each_get_their_own_result(emulator):
    emulator.set_faults(error_rate=0.25, expire_rate=0.25, malformed_rate=0.2, results_out_of_order=True)
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(requests_for(c, 40), model=MODEL, display_name="j").id)
    results = list(c.iter_results(info))
    assert len(results) == 40 and len({r.custom_id for r in results}) == 40
    by = {o: sum(r.outcome == o for r in results) for o in ("succeeded", "errored", "expired", "canceled")}
    # A refusal (empty reply) counts as succeeded at the provider and errored here.
    assert by["succeeded"] + by["errored"] == info.counts["succeeded"] + info.counts["errored"]
    assert by["errored"] >= info.counts["errored"] > 0
    assert by["expired"] == info.counts["expired"] > 0
    assert info.ending == "expired"  # the 24 h limit hit; the other results are still read
    assert all(r.error for r in results if r.outcome == "errored")


def test_find_batches_matches_the_request_total_after_a_timestamp(emulator):
    c = client(emulator.url)
    since = datetime.utcnow() - timedelta(minutes=5)
    three = c.create_batch(requests_for(c, 3), model=MODEL, display_name="a")
    five = c.create_batch(requests_for(c, 5), model=MODEL, display_name="b")
    assert [b.id for b in c.find_batches(display_name="b", created_after=since, request_count=5)] == [five.id]
    assert [b.id for b in c.find_batches(display_name="a", created_after=since, request_count=3)] == [three.id]
    assert c.find_batches(display_name="x", created_after=since, request_count=4) == []
    later = datetime.utcnow() + timedelta(hours=1)
    assert c.find_batches(display_name="b", created_after=later, request_count=5) == []


def test_find_batches_pages_with_after_id_until_batches_are_older(fake: FakeServer):
    def batch(i: int, n: int, created: str) -> dict:
        return {"id": f"msgbatch_{i}", "processing_status": "in_progress", "created_at": created,
                "request_counts": {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}}

    fake.add(200, json.dumps({"data": [batch(9, 2, "2026-11-28T10:00:00Z"), batch(8, 2, "2026-11-28T09:59:00Z")],
                              "has_more": True, "first_id": "msgbatch_9", "last_id": "msgbatch_8"}))
    fake.add(200, json.dumps({"data": [batch(7, 7, "2026-11-28T09:58:00Z"), batch(6, 7, "2026-11-28T09:00:00Z")],
                              "has_more": True, "first_id": "msgbatch_7", "last_id": "msgbatch_6"}))
    c = client(fake.url)
    found = c.find_batches(display_name="j", created_after=datetime(2026, 11, 28, 9, 30), request_count=7)
    assert [b.id for b in found] == ["msgbatch_7"]
    assert [s.query for s in fake.seen] == ["limit=100", "limit=100&after_id=msgbatch_8"]


def test_find_batches_stops_at_the_first_older_batch(fake: FakeServer):
    old = {"id": "msgbatch_1", "processing_status": "ended", "created_at": "2026-11-27T00:00:00Z",
           "request_counts": {"processing": 0, "succeeded": 7, "errored": 0, "canceled": 0, "expired": 0}}
    fake.add(200, json.dumps({"data": [old], "has_more": True, "last_id": "msgbatch_1"}))
    c = client(fake.url)
    assert c.find_batches(display_name="j", created_after=datetime(2026, 11, 28), request_count=7) == []
    assert len(fake.seen) == 1


def test_cancel_then_the_batch_ends_canceled_with_the_finished_results(emulator):
    emulator.set_faults(processing_seconds=3600)
    c = client(emulator.url)
    created = c.create_batch(requests_for(c, 4), model=MODEL, display_name="j")
    assert created.state == "in_progress"
    canceling = c.cancel_batch(created.id)
    assert canceling.provider_state in ("canceling", "ended")
    emulator.advance(7200)
    ended = c.get_batch(created.id)
    assert (ended.state, ended.ending) == ("ended", "canceled")
    assert outcome_for_missing(ended) == "canceled"
    outcomes = {r.outcome for r in c.iter_results(ended)}
    assert outcomes <= {"canceled", "succeeded"} and outcomes


def test_results_of_a_running_batch_are_not_ready_yet(emulator):
    emulator.set_faults(processing_seconds=3600)
    c = client(emulator.url)
    created = c.create_batch(requests_for(c, 2), model=MODEL, display_name="j")
    with pytest.raises(TransientError, match="not ended"):
        list(c.iter_results(created))


# ----------------------------------------------------------------- faults


def test_429_with_retry_after_is_retried_after_the_servers_delay(emulator):
    emulator.set_faults(http_errors={"anthropic.create": [429, 429]}, retry_after=2.0)
    sleeps = Sleeps()
    c = client(emulator.url, sleeps)
    info = c.create_batch(requests_for(c, 2), model=MODEL, display_name="j")
    assert info.id
    assert sleeps == [2.0, 2.0]
    stats = emulator.stats()["anthropic"]
    assert stats["create"] == 3 and stats["batches_created"] == 1


@pytest.mark.parametrize("statuses", [[529], [503], [529, 500, 502]])
def test_overloaded_and_5xx_reads_are_retried(emulator, statuses):
    c0 = client(emulator.url)
    created = c0.create_batch(requests_for(c0, 1), model=MODEL, display_name="j")
    emulator.set_faults(http_errors={"anthropic.get": statuses}, retry_after=None)
    sleeps = Sleeps()
    assert client(emulator.url, sleeps).get_batch(created.id).id == created.id
    assert len(sleeps) == len(statuses)


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_on_create_is_ambiguous_and_not_retried(emulator, status):
    emulator.set_faults(http_errors={"anthropic.create": [status]})
    sleeps = Sleeps()
    c = client(emulator.url, sleeps)
    with pytest.raises(AmbiguousCreate) as info:
        c.create_batch(requests_for(c, 1), model=MODEL, display_name="j")
    assert sleeps == [] and emulator.stats()["anthropic"]["create"] == 1
    assert_no_canary(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(emulator, status):
    emulator.set_faults(http_errors={"anthropic.get": [status]})
    sleeps = Sleeps()
    with pytest.raises(PermanentError) as info:
        client(emulator.url, sleeps).get_batch("msgbatch_01abc")
    assert info.value.status == status and sleeps == []
    assert emulator.stats()["anthropic"]["get"] == 1
    assert_no_canary(info.value)


def test_an_unknown_batch_is_a_permanent_404_with_the_request_id(emulator):
    with pytest.raises(PermanentError) as info:
        client(emulator.url).get_batch("msgbatch_01doesnotexist")
    assert info.value.status == 404 and info.value.error_type == "not_found_error"
    assert info.value.request_id and info.value.request_id in str(info.value)


def test_a_wrong_key_is_a_permanent_401_that_never_shows_the_key(emulator_with_key):
    with pytest.raises(PermanentError) as info:
        client(emulator_with_key.url).get_batch("msgbatch_01abc")
    assert info.value.status == 401 and info.value.error_type == "authentication_error"
    assert_no_canary(info.value)


def test_the_spend_limit_429_is_permanent(emulator):
    emulator.set_faults(http_errors={"anthropic.create": ["spend_limit"]})
    sleeps = Sleeps()
    c = client(emulator.url, sleeps)
    with pytest.raises(PermanentError, match="enforced_spend_limit_reached") as info:
        c.create_batch(requests_for(c, 1), model=MODEL, display_name="j")
    assert info.value.status == 429 and sleeps == []
    assert emulator.stats()["anthropic"]["create"] == 1


def test_a_dropped_create_response_is_ambiguous_and_find_batch_recovers_it(emulator):
    emulator.set_faults(drop_create_response=1)
    c = client(emulator.url)
    since = datetime.utcnow() - timedelta(minutes=1)
    with pytest.raises(AmbiguousCreate) as info:
        c.create_batch(requests_for(c, 6), model=MODEL, display_name="job-42")
    assert_no_canary(info.value)
    found = c.find_batches(display_name="job-42", created_after=since, request_count=6)
    assert [b.request_count for b in found] == [6]
    stats = emulator.stats()["anthropic"]
    assert stats["create"] == 1 and stats["batches_created"] == 1


def test_a_hanging_server_is_bounded_by_the_timeout(emulator):
    c0 = client(emulator.url)
    created = c0.create_batch(requests_for(c0, 1), model=MODEL, display_name="j")
    emulator.set_faults(hang=["anthropic.get"])
    c = client(emulator.url, timeout=(1.0, 0.5), max_retries=1)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        c.get_batch(created.id)
    # The server hangs until its faults change; two 0.5 s reads + backoff, with room for
    # a loaded CI machine.
    assert time.monotonic() - started < 2 * 0.5 + 10


def test_a_hanging_create_is_ambiguous(emulator):
    emulator.set_faults(hang=["anthropic.create"])
    c = client(emulator.url, timeout=(1.0, 0.5))
    with pytest.raises(AmbiguousCreate):
        c.create_batch(requests_for(c, 1), model=MODEL, display_name="j")
    assert emulator.stats()["anthropic"]["create"] == 1


def test_a_truncated_results_stream_raises_and_a_retry_reads_everything(emulator):
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(requests_for(c, 30), model=MODEL, display_name="j").id)
    emulator.set_faults(truncate_results=1)
    got = []
    with pytest.raises(TransientError):
        for r in c.iter_results(info):
            got.append(r)
    assert 0 < len(got) < 30
    assert len({r.custom_id for r in c.iter_results(info)}) == 30


def test_archived_results_are_unavailable(emulator):
    c = client(emulator.url)
    created = c.create_batch(requests_for(c, 2), model=MODEL, display_name="j")
    ended = c.get_batch(created.id)
    emulator.set_faults(results_gone=True)
    with pytest.raises(ResultsUnavailable):
        list(c.iter_results(ended))  # the URL we still hold answers 404
    archived = c.get_batch(created.id)
    assert archived.results_ref is None
    with pytest.raises(ResultsUnavailable):
        list(c.iter_results(archived))


def test_a_results_url_on_another_host_is_refused(fake: FakeServer, other_fake: FakeServer):
    c = client(fake.url)
    batch = BatchInfo(id="msgbatch_1", state="ended", provider_state="ended",
                      results_ref=other_fake.url + "/v1/messages/batches/msgbatch_1/results")
    with pytest.raises(PermanentError, match="another host") as info:
        list(c.iter_results(batch))
    assert other_fake.seen == [] and fake.seen == []
    assert_no_canary(info.value)


def test_a_relative_results_url_is_resolved_on_the_base_url(fake: FakeServer):
    fake.add(200, '{"custom_id":"p1","result":{"type":"expired"}}\n', {"Content-Type": "application/x-jsonl"})
    c = client(fake.url)
    batch = BatchInfo(id="b", state="ended", provider_state="ended", results_ref="/v1/messages/batches/b/results")
    assert [r.outcome for r in c.iter_results(batch)] == ["expired"]
    assert fake.seen[0].path == "/v1/messages/batches/b/results"


def test_blank_and_malformed_lines_do_not_stop_the_stream(fake: FakeServer):
    body = (
        b'{"custom_id":"p1","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"{\\"title\\":1}"}],'
        b'"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}}}}\n'
        b"\n"
        b'{"custom_id":"p2","result":{"type":"succ\n'
        b"garbage without an id\n"
        b'{"custom_id":"p3","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}}}\n'
        b'{"custom_id":"p4","result":{"type":"canceled"}}\n'
    )
    fake.add(200, body, {"Content-Type": "application/x-jsonl"})
    c = client(fake.url)
    batch = BatchInfo(id="b", state="ended", provider_state="ended", results_ref=fake.url + "/r")
    results = {r.custom_id: r for r in c.iter_results(batch)}
    assert list(results) == ["p1", "p2", "p3", "p4"]
    assert (results["p1"].outcome, results["p1"].input_tokens, results["p1"].output_tokens) == ("succeeded", 15, 3)
    assert results["p2"].outcome == "errored" and results["p2"].error.startswith("malformed_result")
    assert results["p3"].error == "invalid_request_error: bad"
    assert results["p4"].outcome == "canceled"


def test_result_line_parsing_covers_refusals_and_unknown_types():
    refusal = b'{"custom_id":"a","result":{"type":"succeeded","message":{"content":[],"stop_reason":"refusal","usage":{"input_tokens":4,"output_tokens":0}}}}'
    assert parse_result_line(refusal).error == "refusal"
    assert parse_result_line(b'{"custom_id":"b","result":{"type":"weird"}}').error.startswith("malformed_result")
    assert parse_result_line(b'[1,2]') is None


def test_the_key_is_sent_only_as_a_header(emulator):
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(requests_for(c, 1), model=MODEL, display_name="j").id)
    list(c.iter_results(info))
    assert emulator.stats()["key_in_query"] == 0
    assert CANARY_ANTHROPIC not in repr(c) and CANARY_ANTHROPIC not in repr(info)


def test_canceling_an_ended_batch_returns_it_unchanged(emulator):
    c = client(emulator.url)
    created = c.create_batch(requests_for(c, 1), model=MODEL, display_name="j")
    info = c.cancel_batch(created.id)  # the emulator answers 400: already ended
    assert (info.state, info.ending) == ("ended", "succeeded")
    with pytest.raises(PermanentError) as err:
        c.cancel_batch("msgbatch_01unknown")
    assert err.value.status == 404
