"""seobatch.http: retry-after parsing, error mapping, retries, bounded bodies — over real sockets."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from fakehttp import CANARY_ANTHROPIC, FakeServer, Sleeps, drip, hang, truncated

from seobatch.errors import AmbiguousCreate, PermanentError, ProviderError, ResultsUnavailable, TransientError
from seobatch.http import (
    Transport,
    backoff_delay,
    call_with_retries,
    error_from_response,
    iter_lines,
    parse_retry_after,
    thread_session,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def transport(url: str, sleeps: Sleeps, **kw) -> Transport:
    kw.setdefault("timeout", (2.0, 2.0))
    return Transport(
        provider="anthropic",
        base_url=url,
        headers={"x-api-key": CANARY_ANTHROPIC},
        secrets=(CANARY_ANTHROPIC,),
        sleep=sleeps,
        rng=lambda: 0.0,
        **kw,
    )


# ----------------------------------------------------------------- retry-after parsing


def test_retry_after_ms_wins_over_retry_after_seconds():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_accepts_seconds_and_fractions():
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25


def test_retry_after_accepts_an_http_date():
    when = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": when}, now=lambda: NOW) == pytest.approx(30.0)


def test_retry_after_in_the_past_means_no_wait():
    when = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": when}, now=lambda: NOW) == 0.0


def test_gemini_retry_info_delay_is_read_from_the_error_details():
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "19s"},
            ],
        }
    }
    assert parse_retry_after({}, body) == 19.0
    body["error"]["details"][1]["retryDelay"] = "1.5s"
    assert parse_retry_after({}, body) == 1.5


def test_garbage_retry_after_is_ignored():
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# ----------------------------------------------------------------- error mapping


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_map_to_transient_error(status):
    err = error_from_response("anthropic", status, {}, b'{"type":"error","error":{"type":"x","message":"m"}}')
    assert type(err) is TransientError and err.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_client_errors_are_permanent(status):
    err = error_from_response("anthropic", status, {}, b'{"type":"error","error":{"type":"x","message":"m"}}')
    assert type(err) is PermanentError and err.status == status


def test_anthropic_spend_limit_429_is_permanent():
    body = (
        b'{"type":"error","error":{"type":"rate_limit_error","message":"spend limit reached",'
        b'"details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}'
    )
    err = error_from_response("anthropic", 429, {}, body)
    assert type(err) is PermanentError
    assert "enforced_spend_limit_reached" in str(err)


def test_anthropic_error_keeps_message_type_status_and_request_id():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    err = error_from_response("anthropic", 529, {"request-id": "req_018E"}, body)
    assert (err.status, err.error_type, err.request_id) == (529, "overloaded_error", "req_018E")
    assert str(err) == "anthropic 529 overloaded_error: Overloaded (request-id req_018E)"


def test_gemini_invalid_key_keeps_status_and_reason():
    body = (
        b'{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT",'
        b'"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}'
    )
    err = error_from_response("gemini", 400, {}, body)
    assert type(err) is PermanentError
    assert err.error_type == "INVALID_ARGUMENT" and "API_KEY_INVALID" in str(err)


def test_cloudflare_html_413_becomes_a_short_permanent_error():
    html = b"<html><head><title>413 Request Entity Too Large</title></head><body><center>cloudflare</center></body></html>"
    err = error_from_response("anthropic", 413, {"content-type": "text/html"}, html)
    assert type(err) is PermanentError
    assert str(err) == "anthropic 413: 413 Request Entity Too Large"


def test_a_key_echoed_by_the_server_is_redacted_from_the_error():
    body = f'{{"error":{{"message":"bad key {CANARY_ANTHROPIC}"}}}}'.encode()
    err = error_from_response("anthropic", 401, {}, body, secrets=(CANARY_ANTHROPIC,))
    assert CANARY_ANTHROPIC not in str(err) and CANARY_ANTHROPIC not in repr(err)


def test_an_empty_error_body_falls_back_to_the_reason_phrase():
    err = error_from_response("gemini", 503, {}, b"", reason="Service Unavailable")
    assert str(err) == "gemini 503: Service Unavailable"


def test_x_should_retry_is_a_declared_attribute_of_every_provider_error():
    told = error_from_response("anthropic", 529, {"x-should-retry": "false"}, b"")
    assert told.should_retry is False
    assert error_from_response("anthropic", 529, {}, b"").should_retry is True
    assert TransientError("x").should_retry is True and TransientError("x").retry_after is None


def test_an_answer_reclassified_keeps_who_said_what_but_not_the_retry_hints():
    body = b'{"type":"error","error":{"type":"not_found_error","message":"gone"}}'
    err = error_from_response("anthropic", 404, {"request-id": "req_7", "retry-after": "30",
                                                 "x-should-retry": "false"}, body)
    gone = err.as_(ResultsUnavailable, f"results are no longer available ({err.message})")
    assert type(gone) is ResultsUnavailable and isinstance(gone, ProviderError)
    assert (gone.provider, gone.status, gone.request_id, gone.error_type) == (
        "anthropic", 404, "req_7", "not_found_error")
    assert (gone.retry_after, gone.should_retry) == (None, True)
    assert str(gone).startswith("anthropic 404 not_found_error: results are no longer available (")
    assert str(gone).endswith("(request-id req_7)")


# ----------------------------------------------------------------- retry helper


def test_backoff_grows_exponentially_and_is_capped():
    err = TransientError("x")
    delays = [backoff_delay(err, n, rng=lambda: 1.0) for n in range(8)]
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(delays) == 8.0
    assert backoff_delay(err, 3, rng=lambda: 0.0) == 2.0  # jitter: between half and full


def test_server_delay_above_the_ceiling_is_not_slept_in_process(sleeps):
    calls = []

    def fn():
        calls.append(1)
        raise TransientError("slow down", status=429, retry_after=300.0)

    with pytest.raises(TransientError) as info:
        call_with_retries(fn, max_retries=4, sleep=sleeps)
    assert len(calls) == 1 and sleeps == [] and info.value.retry_after == 300.0


def test_ambiguous_create_is_never_retried(sleeps):
    calls = []

    def fn():
        calls.append(1)
        raise AmbiguousCreate("maybe")

    with pytest.raises(AmbiguousCreate):
        call_with_retries(fn, max_retries=4, sleep=sleeps)
    assert len(calls) == 1 and sleeps == []


def test_retries_stop_after_max_retries(sleeps):
    calls = []

    def fn():
        calls.append(1)
        raise TransientError("down", status=503)

    with pytest.raises(TransientError):
        call_with_retries(fn, max_retries=3, sleep=sleeps, rng=lambda: 0.0)
    assert len(calls) == 4 and sleeps == [0.25, 0.5, 1.0]


# ----------------------------------------------------------------- transport over sockets


def test_429_with_retry_after_is_retried_after_the_servers_delay(fake: FakeServer, sleeps):
    fake.add(429, '{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {"retry-after": "3"})
    fake.add(429, '{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {"retry-after": "3"})
    fake.add(200, '{"ok": true}')
    t = transport(fake.url, sleeps)
    assert t.call_json("GET", t.url("/v1/x")) == {"ok": True}
    assert len(fake.seen) == 3
    assert sleeps == [3.0, 3.0]


def test_x_should_retry_false_stops_retries(fake: FakeServer, sleeps):
    fake.add(529, '{"type":"error","error":{"type":"overloaded_error","message":"o"}}', {"x-should-retry": "false"})
    t = transport(fake.url, sleeps)
    with pytest.raises(TransientError):
        t.call_json("GET", t.url("/v1/x"))
    assert len(fake.seen) == 1


def test_redirects_are_not_followed_so_the_key_stays_home(fake: FakeServer, other_fake: FakeServer, sleeps):
    fake.add(302, "", {"Location": other_fake.url + "/steal"})
    t = transport(fake.url, sleeps)
    with pytest.raises(PermanentError, match="redirect"):
        t.call_json("GET", t.url("/v1/x"))
    assert other_fake.seen == []


def test_a_server_that_never_answers_is_bounded_by_the_read_timeout(fake: FakeServer, sleeps):
    fake.add(raw=hang(fake.stop_event))
    t = transport(fake.url, sleeps, timeout=(1.0, 0.5), max_retries=0)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out") as info:
        t.call_json("GET", t.url("/v1/x"))
    assert type(info.value) is TransientError
    # Bounded (the server never answers), with room for a loaded CI machine.
    assert time.monotonic() - started < 1.0 + 0.5 + 10


def test_a_hanging_create_is_ambiguous_and_not_retried(fake: FakeServer, sleeps):
    fake.add(raw=hang(fake.stop_event))
    t = transport(fake.url, sleeps, timeout=(1.0, 0.5))
    with pytest.raises(AmbiguousCreate):
        t.call_json("POST", t.url("/v1/messages/batches"), json_body={"requests": []}, create=True)
    assert len(fake.seen) == 1 and sleeps == []


def test_a_refused_connection_on_create_is_safe_to_retry(sleeps):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    t = transport(f"http://127.0.0.1:{port}", sleeps, max_retries=2)
    with pytest.raises(TransientError, match="could not connect") as info:
        t.call_json("POST", t.url("/v1/messages/batches"), json_body={}, create=True)
    assert not isinstance(info.value, AmbiguousCreate)
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_create_is_ambiguous(fake: FakeServer, sleeps, status):
    fake.add(status, '{"type":"error","error":{"type":"api_error","message":"boom"}}')
    t = transport(fake.url, sleeps)
    with pytest.raises(AmbiguousCreate) as info:
        t.call_json("POST", t.url("/v1/messages/batches"), json_body={}, create=True)
    assert info.value.status == status and len(fake.seen) == 1


@pytest.mark.parametrize("status", [429, 529])
def test_a_refusal_on_create_is_retried(fake: FakeServer, sleeps, status):
    fake.add(status, '{"type":"error","error":{"type":"x","message":"busy"}}', {"retry-after-ms": "10"})
    fake.add(200, '{"id": "msgbatch_1"}')
    t = transport(fake.url, sleeps)
    assert t.call_json("POST", t.url("/v1/messages/batches"), json_body={}, create=True) == {"id": "msgbatch_1"}
    assert sleeps == [0.01] and len(fake.seen) == 2


def test_a_create_whose_200_body_is_cut_off_is_ambiguous(fake: FakeServer, sleeps):
    fake.add(raw=truncated(200, {"Content-Type": "application/json"}, b'{"id": "msgb', claimed=400))
    t = transport(fake.url, sleeps)
    with pytest.raises(AmbiguousCreate):
        t.call_json("POST", t.url("/v1/messages/batches"), json_body={}, create=True)


def test_a_dripping_body_is_cut_off_by_the_wall_clock_deadline(fake: FakeServer, sleeps):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-jsonl\r\nContent-Length: 100000\r\n\r\n"
    fake.add(raw=drip(head, b"x" * 100000, 0.05, fake.stop_event))
    t = transport(fake.url, sleeps, timeout=(1.0, 1.0), stream_deadline=1.0)
    started = time.monotonic()
    resp = t.open_stream(t.url("/v1/results"))
    with pytest.raises(TransientError, match="within 1s"):
        for _ in t.stream_lines(resp):
            pass
    # The drip would take ~80 min; the deadline cuts it, with room for a loaded machine.
    assert time.monotonic() - started < 1.0 + 10


def test_a_truncated_stream_raises_instead_of_ending_quietly(fake: FakeServer, sleeps):
    fake.add(raw=truncated(200, {"Content-Type": "application/x-jsonl"}, b'{"a":1}\n{"b":', claimed=5000))
    t = transport(fake.url, sleeps)
    resp = t.open_stream(t.url("/v1/results"))
    lines = []
    with pytest.raises(TransientError, match="truncated|interrupted"):
        for line in t.stream_lines(resp):
            lines.append(line)
    assert lines == [b'{"a":1}']


def test_the_key_travels_only_in_the_header(fake: FakeServer, sleeps):
    fake.add(200, "{}")
    t = transport(fake.url, sleeps)
    t.call_json("GET", t.url("/v1/x"), params={"limit": 5})
    seen = fake.seen[0]
    assert seen.headers["x-api-key"] == CANARY_ANTHROPIC
    assert CANARY_ANTHROPIC not in seen.path + seen.query
    assert CANARY_ANTHROPIC not in repr(t)


def test_network_errors_name_the_call_but_not_the_query(fake: FakeServer, sleeps):
    fake.add(raw=hang(fake.stop_event))
    t = transport(fake.url, sleeps, timeout=(1.0, 0.3), max_retries=0)
    with pytest.raises(TransientError) as info:
        t.call_json("GET", t.url("/v1/x"), params={"secret": "QUERYVALUE"})
    assert "GET /v1/x" in str(info.value)
    assert "QUERYVALUE" not in str(info.value) and info.value.__cause__ is None


def test_lines_are_split_across_chunk_boundaries_without_holding_the_stream():
    chunks = [b'{"a"', b":1}\r\n{", b'"b":2}\n', b"\n", b'{"c":3}']
    assert list(iter_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b"", b'{"c":3}']


def test_an_endless_line_is_refused():
    with pytest.raises(PermanentError, match="longer than"):
        list(iter_lines([b"x" * 10] * 20, max_line=50))


def test_each_thread_gets_its_own_session():
    import threading

    mine = thread_session()
    other = []
    th = threading.Thread(target=lambda: other.append(thread_session()))
    th.start()
    th.join()
    assert thread_session() is mine and other[0] is not mine


def test_a_base_url_without_scheme_is_a_config_error(sleeps):
    from seobatch.errors import ConfigError

    with pytest.raises(ConfigError, match="base URL"):
        transport("api.anthropic.com", sleeps)
