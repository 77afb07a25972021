"""GeminiBatches ↔ the emulator over real sockets: every operation and fault, on v1beta and v1."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from fakehttp import CANARY_GEMINI, Sleeps

from seobatch.errors import AmbiguousCreate, PermanentError, ResultsUnavailable, TransientError
from seobatch.providers.base import Prompt, outcome_for_missing
from seobatch.providers.gemini import GeminiBatches

MODEL = "gemini-2.5-flash"


def client(url: str, sleeps: Sleeps | None = None, **kw) -> GeminiBatches:
    kw.setdefault("timeout", (2.0, 5.0))
    return GeminiBatches(CANARY_GEMINI, url, sleep=sleeps if sleeps is not None else Sleeps(), rng=lambda: 0.0, **kw)


def reqs(c: GeminiBatches, n: int, filler: str = "Some page text."):
    return [
        c.build_request(
            f"p{i}",
            Prompt("You write SEO metadata.", f"URL: https://shop.test/item/{i}\nTitle: Red Kettle {i}\n\n{filler}"),
            model=MODEL,
            max_tokens=300,
        )
        for i in range(n)
    ]


def no_canary(exc: BaseException) -> bool:
    return CANARY_GEMINI not in str(exc) and CANARY_GEMINI not in repr(exc)


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_inline_batch_round_trip_joined_by_key(emulator, api_version):
    c = client(emulator.url, api_version=api_version)
    created = c.create_batch(reqs(c, 10), model=MODEL, display_name="job-inline")
    assert created.id.startswith("batches/") and created.display_name == "job-inline"
    info = c.get_batch(created.id)
    assert (info.state, info.ending, info.request_count) == ("ended", "succeeded", 10)
    results = list(c.iter_results(info))
    assert sorted(r.custom_id for r in results) == sorted(f"p{i}" for i in range(10))
    for r in results:
        assert r.outcome == "succeeded" and r.input_tokens > 0 and r.output_tokens > 0
        assert f"Red Kettle {r.custom_id[1:]}" in json.loads(r.text)["title"]
    stats = emulator.stats()
    assert stats["gemini"]["upload_start"] == 0 and stats["key_in_query"] == 0


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_file_mode_round_trip_uploads_creates_and_downloads(emulator, api_version):
    c = client(emulator.url, api_version=api_version, inline_limit_bytes=2000, upload_chunk_bytes=4096)
    created = c.create_batch(reqs(c, 25, filler="x" * 300), model=MODEL, display_name="job-file")
    info = c.get_batch(created.id)
    assert info.results_ref and info.results_ref.startswith("files/")
    results = list(c.iter_results(info))
    assert sorted(r.custom_id for r in results) == sorted(f"p{i}" for i in range(25))
    assert all(r.outcome == "succeeded" for r in results)
    stats = emulator.stats()
    assert stats["gemini"]["upload_start"] == 1 and stats["gemini"]["upload"] >= 3
    assert stats["gemini"]["create"] == 1 and stats["gemini"]["download"] == 1
    assert stats["key_in_query"] == 0


def test_mixed_outcomes_each_get_their_own_result(emulator):
    emulator.set_faults(error_rate=0.3, malformed_rate=0.2)
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(reqs(c, 40), model=MODEL, display_name="j").id)
    results = list(c.iter_results(info))
    assert len({r.custom_id for r in results}) == 40
    errored = [r for r in results if r.outcome == "errored"]
    assert len(errored) >= info.counts["errored"] > 0 and all(r.error for r in errored)


def test_a_dropped_create_response_is_ambiguous_and_find_batches_recovers_it(emulator):
    c = client(emulator.url)
    since = datetime.utcnow() - timedelta(minutes=1)
    c.create_batch(reqs(c, 2), model=MODEL, display_name="job-other")
    emulator.set_faults(drop_create_response=1)
    with pytest.raises(AmbiguousCreate) as info:
        c.create_batch(reqs(c, 3), model=MODEL, display_name="job-77-abcd")
    assert no_canary(info.value)
    found = c.find_batches(display_name="job-77-abcd", created_after=since, request_count=3)
    assert [b.display_name for b in found] == ["job-77-abcd"]
    assert c.find_batches(display_name="job-missing", created_after=since, request_count=3) == []
    assert emulator.stats()["gemini"]["batches_created"] == 2


def test_cancel_ends_the_batch_cancelled_and_its_results_can_be_read(emulator):
    emulator.set_faults(processing_seconds=3600)
    c = client(emulator.url)
    created = c.create_batch(reqs(c, 3), model=MODEL, display_name="j")
    assert created.state == "in_progress"
    info = c.cancel_batch(created.id)
    assert (info.state, info.ending) == ("ended", "canceled")
    assert outcome_for_missing(info) == "canceled"
    for r in c.iter_results(info):
        assert r.outcome in ("succeeded", "errored", "canceled")
    again = c.cancel_batch(created.id)  # idempotent: the ended batch as it is
    assert (again.state, again.ending) == ("ended", "canceled")


@pytest.mark.parametrize("outcome,ending", [("expire", "expired"), ("fail", "failed")])
def test_batch_level_expiry_and_failure(emulator, outcome, ending):
    emulator.set_faults(batch_outcome=outcome)
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(reqs(c, 3), model=MODEL, display_name="j").id)
    assert (info.state, info.ending) == ("ended", ending)
    if ending == "failed":
        assert info.error
    assert list(c.iter_results(info)) == []  # nothing to read: items settle by the ending
    assert outcome_for_missing(info) == ("expired" if ending == "expired" else "errored")


def test_429_with_retry_info_is_retried_after_the_servers_delay(emulator):
    emulator.set_faults(http_errors={"gemini.create": [429, 429]}, retry_after=2.0)
    sleeps = Sleeps()
    c = client(emulator.url, sleeps)
    c.create_batch(reqs(c, 1), model=MODEL, display_name="j")
    assert sleeps == [2.0, 2.0]
    assert emulator.stats()["gemini"]["batches_created"] == 1


@pytest.mark.parametrize("statuses", [[503], [500, 504]])
def test_5xx_reads_are_retried(emulator, statuses):
    c0 = client(emulator.url)
    created = c0.create_batch(reqs(c0, 1), model=MODEL, display_name="j")
    emulator.set_faults(http_errors={"gemini.get": statuses}, retry_after=None)
    sleeps = Sleeps()
    assert client(emulator.url, sleeps).get_batch(created.id).id == created.id
    assert len(sleeps) == len(statuses)


def test_a_503_on_create_is_ambiguous(emulator):
    emulator.set_faults(http_errors={"gemini.create": [503]})
    sleeps = Sleeps()
    c = client(emulator.url, sleeps)
    with pytest.raises(AmbiguousCreate):
        c.create_batch(reqs(c, 1), model=MODEL, display_name="j")
    assert sleeps == [] and emulator.stats()["gemini"]["create"] == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(emulator, status):
    emulator.set_faults(http_errors={"gemini.get": [status]})
    sleeps = Sleeps()
    with pytest.raises(PermanentError) as info:
        client(emulator.url, sleeps).get_batch("batches/abc")
    assert info.value.status == status and sleeps == [] and no_canary(info.value)
    assert emulator.stats()["gemini"]["get"] == 1


def test_a_wrong_key_is_refused_permanently_without_echoing_it(emulator_with_key):
    with pytest.raises(PermanentError) as info:
        client(emulator_with_key.url).get_batch("batches/abc")
    assert info.value.status in (400, 401, 403) and no_canary(info.value)


def test_a_hanging_server_is_bounded_by_the_timeout(emulator):
    emulator.set_faults(hang=["gemini.list"])
    c = client(emulator.url, timeout=(1.0, 0.5), max_retries=1)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        c.find_batches(display_name="j", created_after=datetime.utcnow(), request_count=1)
    # The server hangs until its faults change; two 0.5 s reads + backoff, with room for
    # a loaded CI machine.
    assert time.monotonic() - started < 2 * 0.5 + 10


def test_a_hanging_upload_is_transient_not_ambiguous(emulator):
    emulator.set_faults(hang=["gemini.upload"])
    c = client(emulator.url, timeout=(1.0, 0.5), max_retries=0, inline_limit_bytes=10)
    with pytest.raises(TransientError) as info:
        c.create_batch(reqs(c, 2), model=MODEL, display_name="j")
    assert not isinstance(info.value, AmbiguousCreate)
    assert emulator.stats()["gemini"]["create"] == 0


def test_a_truncated_download_raises_and_a_retry_reads_everything(emulator):
    c = client(emulator.url, inline_limit_bytes=10)
    info = c.get_batch(c.create_batch(reqs(c, 30), model=MODEL, display_name="j").id)
    emulator.set_faults(truncate_results=1)
    got = []
    with pytest.raises(TransientError):
        for r in c.iter_results(info):
            got.append(r)
    assert len(got) < 30
    assert len({r.custom_id for r in c.iter_results(info)}) == 30


def test_a_gone_results_file_is_unavailable(emulator):
    c = client(emulator.url, inline_limit_bytes=10)
    info = c.get_batch(c.create_batch(reqs(c, 2), model=MODEL, display_name="j").id)
    emulator.set_faults(results_gone=True)
    with pytest.raises(ResultsUnavailable):
        list(c.iter_results(info))
