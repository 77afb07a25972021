"""R9/R10/R11: what the results of a batch can look like, and what each item becomes."""

from __future__ import annotations

import json
import time

import pytest

from actors import send_steps
from seobatch.models import JOB_EVENTS, Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.output import OutputLimits, parse_reply
from seobatch.providers import get_provider
from seobatch.providers.base import ItemResult

from tests.faults import golden
from tests.faults.support import MODELS, golden_run, keep_openai_files, kickoff_run, run_steps, wait_run
from tests.support.pages import seed_pages
from tests.support.pipeline import drive

pytestmark = pytest.mark.timeout(60)


def start(settings, model=None) -> int:
    job_id = kickoff_run(settings, model)
    send_steps(run_steps(job_id))
    return job_id


def items_by_id(job_id: int) -> dict[str, SeoBatchItem]:
    return {i.custom_id: i for i in SeoBatchItem.select().where(SeoBatchItem.job == job_id)}


def served_results(settings, job_id: int) -> dict[str, ItemResult]:
    """What the provider serves for the job's batch, read again through the client."""
    row = SeoBatchJob.get_by_id(job_id)
    provider = get_provider(row.model, settings)
    return {r.custom_id: r for r in provider.iter_results(provider.get_batch(row.ai_batch_id))}


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_r9_mixed_outcomes_out_of_order_each_item_gets_its_own_state(any_db, emulator, worker, settings, provider,
                                                                      monkeypatch):
    """R9: a batch that ends with succeeded, errored, expired and malformed items, in
    shuffled order → every item's state is exactly what the provider said of it (a
    malformed reply is errored ``invalid_output``), counts add up to the total."""
    model = MODELS[provider]

    keep_openai_files(monkeypatch)
    seed_pages(30)
    emulator.set_faults(error_rate=0.2, expire_rate=0.2, malformed_rate=0.2, results_out_of_order=True)
    job_id = start(settings, model)
    wait_run(job_id)
    row = SeoBatchJob.get_by_id(job_id)
    served = served_results(settings, job_id)
    items = items_by_id(job_id)
    assert set(served) == set(items)
    outcomes = {"succeeded": 0, "errored": 0, "expired": 0}
    for custom_id, result in served.items():
        item = items[custom_id]
        if result.outcome == "succeeded":
            page = Page.get_by_id(item.page_id)
            try:
                want = parse_reply(result.text, OutputLimits.from_settings(settings), page.url,
                                   f"{page.title}\n{page.content}")
            except Exception:
                assert item.status == "errored" and item.error.startswith("invalid_output")
            else:
                assert item.status == "succeeded" and item.result == want.as_dict()
                assert (page.seo_title, page.seo_description) == (want.title, want.meta_description)
        else:
            assert item.status == result.outcome, custom_id
            # Only an errored item costs its page an attempt (expired is the provider's doing)
            assert page_unchanged(item.page_id, attempts=int(item.status == "errored"))
        outcomes[item.status] += 1
    assert (row.succeeded_count, row.errored_count, row.expired_count) == (
        outcomes["succeeded"], outcomes["errored"], outcomes["expired"])
    assert sum(outcomes.values()) == row.total_pages == 30
    if provider in ("anthropic", "openai"):  # OpenAI: a request_timeout line is expired
        assert outcomes["errored"] >= 6 and outcomes["expired"] == 6
    else:  # Gemini has no per-request expiry: an unfinished request is an error line
        assert outcomes["errored"] >= 12
    golden.assert_events_once()


def page_unchanged(page_id: int, attempts: int) -> bool:
    page = Page.get_by_id(page_id)
    return page.seo_title is None and page.seo_attempts == attempts and page.seo_last_error


class Tampered:
    """The real client, with its result stream reordered, duplicated, padded and holed:
    the provider's real bytes underneath, then the trouble a stream can carry."""

    def __init__(self, real, drop: int = 2) -> None:
        self.real = real
        self.name = real.name
        self.drop = drop
        self.dropped: list[str] = []
        self.duplicated: list[str] = []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def iter_results(self, batch):
        results = list(self.real.iter_results(batch))
        results.reverse()
        self.dropped = [r.custom_id for r in results[: self.drop]]
        kept = results[self.drop:]
        self.duplicated = [kept[0].custom_id]
        bogus_reply = json.dumps({"title": "A different title for the same page",
                                  "meta_description": "A second answer for one custom_id must never win over the first one."})
        yield kept[0]
        yield ItemResult(kept[0].custom_id, "succeeded", bogus_reply, 5, 5)
        yield ItemResult("p999999", "succeeded", kept[0].text, 5, 5)
        yield ItemResult("x'); DROP TABLE seo_pages;--", "errored", error="unknown")
        yield from kept[1:]
        yield ItemResult(kept[-1].custom_id, "errored", error="a late duplicate")


def test_r9_unknown_duplicate_and_missing_custom_ids(any_db, emulator, settings, caplog):
    """R9: unknown ids are logged and ignored, the first result of a duplicated id wins,
    ids the stream never mentions end ``errored missing_result`` (tried again later)."""
    want = golden_run(emulator, settings, 10)
    job_id = kickoff_run(settings)
    tampered = Tampered(get_provider(MODELS["anthropic"], settings))
    drive(run_steps(job_id), settings, provider=tampered)
    items = items_by_id(job_id)
    golden_items = want["jobs"][0]["items"]
    url_of = {i.custom_id: Page.get_by_id(i.page_id).url for i in items.values()}
    for custom_id, item in items.items():
        if custom_id in tampered.dropped:
            assert (item.status, item.error) == ("errored", "missing_result")
            assert Page.get_by_id(item.page_id).seo_attempts == 0  # the provider lost it
        else:
            assert (item.status, item.result) == (golden_items[url_of[custom_id]]["status"],
                                                  golden_items[url_of[custom_id]]["result"])
    assert "unknown custom_id" in caplog.text
    assert SeoBatchItem.select().count() == 10 and Page.select().count() == 10
    row = SeoBatchJob.get_by_id(job_id)
    assert (row.status, row.succeeded_count, row.errored_count) == ("completed", 8, 2)


@pytest.mark.parametrize("provider, outcome, status", [
    ("anthropic", "expire", "completed"),
    ("anthropic", "cancel", "completed"),
    ("anthropic", "fail", "completed"),  # Anthropic batches cannot fail: every request errors
    ("gemini", "expire", "completed"),
    ("gemini", "cancel", "completed"),
    ("gemini", "fail", "failed"),
])
def test_r10_a_batch_that_expires_is_canceled_or_fails_ends_the_job_once(
    any_db, emulator, worker, settings, provider, outcome, status
):
    """R10: provider-side expiry, cancellation or failure of the whole batch → polling
    stops, the job ends once (completed keeping what finished, or failed with the
    provider's reason), exactly one terminal event; unfinished items are not lost."""

    seed_pages(12)
    emulator.set_faults(batch_outcome=outcome, processing_seconds=0.3)
    job_id = start(settings, MODELS[provider])
    wait_run(job_id)
    row = SeoBatchJob.get_by_id(job_id)
    assert row.status == status, row.metadata.get("error")
    names = [n for (n,) in SeoBatchEvent.select(SeoBatchEvent.name).where(
        (SeoBatchEvent.job == job_id) & SeoBatchEvent.name.in_(JOB_EVENTS)).tuples()]
    assert sorted(names) == sorted(["job_submitted", "job_completed" if status == "completed" else "job_failed"])
    if status == "completed":
        assert row.succeeded_count + row.errored_count + row.expired_count == 12
        assert row.succeeded_count < 12
        golden.assert_one_outcome_per_item()
    else:
        assert "failed" in row.metadata["error"]
    gets = emulator.stats()[provider]["get"]
    time.sleep(0.5)
    assert emulator.stats()[provider]["get"] == gets, "polling went on after the end"


def test_r11_a_results_stream_cut_mid_line_is_read_again_with_identical_rows(any_db, emulator, worker, settings):
    """R11: the download breaks in the middle of a line after some chunks were saved →
    nothing half-parsed is stored, the retry saves the rest, rows equal the golden run."""
    want = golden_run(emulator, settings, 24)
    emulator.set_faults(truncate_results=1)
    job_id = start(settings)
    wait_run(job_id)
    assert emulator.stats()["faults"]["truncated"] == 1
    assert emulator.stats()["anthropic"]["results"] == 2
    golden.assert_same(golden.snapshot(), want)
    golden.assert_one_outcome_per_item()


def test_r11_results_that_are_gone_fail_the_job_with_an_explicit_reason(any_db, emulator, worker, settings):
    """R11: results past retention (404) → the job fails once, saying the results are no
    longer available; its items are failed with it (no result, no attempt charged: a later
    night takes them again), nothing is half-saved."""

    seed_pages(5)
    emulator.set_faults(results_gone=True)
    job_id = start(settings)
    wait_run(job_id)
    row = SeoBatchJob.get_by_id(job_id)
    assert row.status == "failed"
    assert row.metadata["error"].startswith("results_unavailable: ")
    assert {(i.status, i.result) for i in SeoBatchItem.select()} == {("failed", None)}
    assert Page.select().where(Page.seo_title.is_null(False) | (Page.seo_attempts > 0)).count() == 0
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").count() == 1


@pytest.mark.parametrize("provider, quiet_hours, overdue_hours", [("anthropic", 25.5, 26.5), ("gemini", 49.5, 50.5)])
def test_r10_a_batch_that_never_ends_is_stopped_by_the_watchdog(
    any_db, emulator, settings, provider, quiet_hours, overdue_hours
):
    """R10 (local watchdog): the provider never reports an end → polling goes on until
    the provider's expiry plus a margin (fake clock), then the batch is canceled once and
    polled on (what finished would be saved); when it has still not ended 2 h after the
    cancel, the job fails once with a watchdog reason, and later polls do nothing."""
    from datetime import timedelta

    from seobatch import events
    from seobatch.stages.collect import collect
    from seobatch.stages.poll import poll
    from seobatch.stages.submit import submit


    seed_pages(3)
    emulator.set_faults(processing_seconds=10**7)
    job_id = kickoff_run(settings, MODELS[provider])
    collect(job_id, settings=settings)
    submit(job_id, settings=settings)
    sent = SeoBatchJob.get_by_id(job_id).submitted_at
    failed = []
    with events.job_failed.connected_to(lambda sender, **kw: failed.append(kw["error"])):
        steps = poll(job_id, settings=settings, now=sent + timedelta(hours=quiet_hours))
        assert [s.actor for s in steps] == ["poll"]
        steps = poll(job_id, settings=settings, now=sent + timedelta(hours=overdue_hours))
        assert [s.actor for s in steps] == ["poll"] and not failed  # canceled, still polled
        steps = poll(job_id, settings=settings, now=sent + timedelta(hours=overdue_hours + 1))
        if provider == "gemini":
            # The emulated Gemini ends a canceled batch at once: results, and the job completes
            from seobatch.stages.results import results

            assert [s.actor for s in steps] == ["results"]
            assert results(job_id, settings=settings) == [] and not failed
            assert SeoBatchJob.get_by_id(job_id).status == "completed"
            assert emulator.stats()[provider]["cancel"] == 1
            return
        assert [s.actor for s in steps] == ["poll"] and not failed  # not ended yet: waits
        assert poll(job_id, settings=settings, now=sent + timedelta(hours=overdue_hours + 2.5)) == []
        gets = emulator.stats()[provider]["get"]
        assert poll(job_id, settings=settings, now=sent + timedelta(hours=overdue_hours + 3)) == []
    row = SeoBatchJob.get_by_id(job_id)
    assert row.status == "failed" and row.metadata["error"].startswith("watchdog: ")
    assert len(failed) == 1
    assert emulator.stats()[provider]["cancel"] == 1
    assert emulator.stats()[provider]["get"] == gets, "polled after the job ended"
