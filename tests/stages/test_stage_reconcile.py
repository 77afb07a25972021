"""Reconciliation never adopts or cancels another job's batch, and tells same-sized
candidates apart exactly (their results name their job).

Anthropic batches carry no name, so an unclear create is matched on the request count;
the jobs of one split run have distinct sizes, and two same-sized jobs (two runs) are
told apart by the custom ids in their batches' results once those have ended. These are
the reviewer's three scenarios (cancel, adopt, steal) and the exact resolution, over real
sockets, on both databases.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from seobatch import db
from seobatch.errors import TransientError
from seobatch.models import SeoBatchJob
from seobatch.providers import get_provider
from seobatch.providers.anthropic import AnthropicBatches
from seobatch.stages import Step
from seobatch.stages.cancel import cancel
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.reconcile import give_up_after
from seobatch.stages.submit import JobRequests, submit

from tests.support.pages import make_pages
from tests.support.pipeline import job, make_settings

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def split(emulator):
    """Settings that split ten pages into two jobs of five."""
    return make_settings(emulator, batch_max_requests=5, chunk_size=5)


def _two_jobs(settings, model=MODEL) -> tuple[int, int]:
    """Two jobs of five items. The jobs of one split run differ in size, so two same-sized
    jobs come from two runs (``--limit 5`` each) — the case the count cannot tell apart."""
    make_pages(10)
    ids = []
    for _ in range(2):
        first = kickoff(settings=settings, model=model, limit=5).job
        assert collect(first.id, settings=settings) == [Step("submit", first.id)]
        ids.append(first.id)
    return ids[0], ids[1]


def _unclear(job_id: int, *, name: str | None = None, ago: float = 0.0) -> None:
    """The job's earlier create attempt left no record (killed worker, dropped reply)."""
    row = job(job_id)
    sent = (db.utcnow() - timedelta(seconds=ago)).isoformat()
    SeoBatchJob.update(metadata={
        **(row.metadata or {}), "display_name": name or f"seobatch-job-{job_id}-dead", "submit_attempts": 1,
        "submit_started_at": sent, "submit_sent_at": sent,
    }).where(SeoBatchJob.id == job_id).execute()


def _running(emulator) -> None:
    """Batches made from now on keep running until ``emulator.advance`` (results unreadable)."""
    emulator.set_faults(processing_seconds=3600)


def _created(emulator) -> int:
    return emulator.stats()["anthropic"]["batches_created"]


def test_canceling_a_job_after_an_unclear_create_leaves_another_jobs_batch_running(any_db, emulator, split):
    # Given job B submitted normally, and job A (same size) whose create never arrived
    a_id, b_id = _two_jobs(split)
    submit(b_id, settings=split)
    b_batch = job(b_id).ai_batch_id
    _unclear(a_id)
    # When the operator cancels A
    message = cancel(a_id, settings=split).message
    # Then B's batch is not canceled: it is recorded on B, so it is not A's
    assert emulator.stats()["anthropic"]["cancel"] == 0
    assert get_provider(MODEL, split).get_batch(b_batch).ending != "canceled"
    assert job(a_id).status == "failed" and "was canceled" not in message
    assert job(b_id).status == "processing"


def test_an_unclear_create_adopts_its_own_batch_not_the_newer_one_of_a_same_sized_job(any_db, emulator, split):
    # Given A's create reached the provider but its reply was lost, and then B submitted
    a_id, b_id = _two_jobs(split)
    _unclear(a_id)
    provider = get_provider(MODEL, split)
    a_real = provider.create_batch(JobRequests(a_id, 5), model=MODEL, display_name="lost")
    submit(b_id, settings=split)
    b_batch = job(b_id).ai_batch_id
    # When A's next attempt reconciles (B's batch is the newest with five requests)
    steps = submit(a_id, settings=split)
    # Then A adopts its own batch, not B's, and nothing is sent again
    a = job(a_id)
    assert a.status == "processing" and a.ai_batch_id == a_real.id != b_batch
    assert a.metadata["reconciled"] is True and steps[0].actor == "poll"
    assert _created(emulator) == 2


class _HeldCreate(AnthropicBatches):
    """A real client whose create reaches the emulator, then waits before returning."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.landed = threading.Event()
        self.release = threading.Event()

    def create_batch(self, requests, **kw):
        info = super().create_batch(requests, **kw)
        self.landed.set()
        assert self.release.wait(30)
        return info


def test_a_job_reconciling_while_another_create_is_in_flight_adopts_nothing_and_sends_later(
    any_db, emulator, split
):
    # Given A's create never arrived, and B's create has reached the provider while B
    # has not recorded it yet
    a_id, b_id = _two_jobs(split)
    _unclear(a_id)
    _running(emulator)
    held = _HeldCreate(split.anthropic_api_key, emulator.url)
    out: list = []

    def run_b():
        db.database.connect(reuse_if_open=True)
        try:
            out.extend(submit(b_id, settings=split, provider=held))
        finally:
            db.database.close()

    worker = threading.Thread(target=run_b)
    worker.start()
    try:
        assert held.landed.wait(30)
        # When A reconciles now
        steps = submit(a_id, settings=split)
        # Then it adopts nothing (B may own the batch found) and sends nothing
        assert [s.actor for s in steps] == ["submit"] and steps[0].delay_ms > 0
        assert job(a_id).status == "submitting" and job(a_id).ai_batch_id is None
        assert _created(emulator) == 1
        assert job(a_id).metadata["reconcile_candidates"]
    finally:
        held.release.set()
        worker.join(30)
    # And B records its own batch
    b = job(b_id)
    assert b.status == "processing" and out[0].actor == "poll"
    # And A's next look finds only B's (recorded) batch: its own never landed, so it sends
    steps = submit(a_id, settings=split)
    a = job(a_id)
    assert steps[0].actor == "poll" and a.status == "processing"
    assert a.ai_batch_id != b.ai_batch_id and _created(emulator) == 2


def test_two_same_sized_unclear_creates_wait_for_their_batches_then_each_adopts_its_own(any_db, emulator, split):
    # Given both jobs' creates reached the provider and both replies were lost
    a_id, b_id = _two_jobs(split)
    _running(emulator)
    provider = get_provider(MODEL, split)
    made = {}
    for job_id in (a_id, b_id):
        _unclear(job_id)
        made[job_id] = provider.create_batch(JobRequests(job_id, 5), model=MODEL, display_name="lost").id
    # When A reconciles while both run, it cannot tell its batch from B's: it adopts none
    steps = submit(a_id, settings=split)
    assert [s.actor for s in steps] == ["submit"] and job(a_id).status == "submitting"
    assert job(a_id).ai_batch_id is None
    assert set(job(a_id).metadata["reconcile_candidates"]) == set(made.values())
    # And however long they run, it waits for them, never sending and never failing
    late = db.utcnow() + timedelta(seconds=give_up_after(split) + 1)
    for _ in range(4):
        assert submit(a_id, settings=split, now=late)[0].actor == "submit"
    assert job(a_id).status == "submitting" and _created(emulator) == 2
    # When the batches have ended, their results name their jobs: each adopts its own
    emulator.advance(3601)
    for job_id in (a_id, b_id):
        assert submit(job_id, settings=split)[0].actor == "poll"
        assert job(job_id).ai_batch_id == made[job_id] and job(job_id).metadata["reconciled"] is True
    # Nothing was sent again, canceled, or left for a person
    assert _created(emulator) == 2 and emulator.stats()["anthropic"]["cancel"] == 0
    assert all("error" not in job(j).metadata for j in (a_id, b_id))


def test_cancel_with_running_same_sized_candidates_cancels_nothing_and_says_so(any_db, emulator, split):
    a_id, b_id = _two_jobs(split)
    _running(emulator)
    provider = get_provider(MODEL, split)
    for job_id in (a_id, b_id):
        _unclear(job_id)
        provider.create_batch(JobRequests(job_id, 5), model=MODEL, display_name="lost")
    message = cancel(a_id, settings=split).message
    assert "ambiguous reconciliation" in message and "waiting for them to end" in message
    assert emulator.stats()["anthropic"]["cancel"] == 0


def test_cancel_with_ended_same_sized_candidates_cancels_its_own_batch_only(any_db, emulator, split):
    # Given both jobs' unclear creates made batches that have ended
    a_id, b_id = _two_jobs(split)
    provider = get_provider(MODEL, split)
    made = {}
    for job_id in (a_id, b_id):
        _unclear(job_id)
        made[job_id] = provider.create_batch(JobRequests(job_id, 5), model=MODEL, display_name="lost").id
    # When A is canceled, its batch is told from B's by its results and recorded on A
    message = cancel(a_id, settings=split).message
    assert f"its provider batch {made[a_id]} was canceled" in message
    assert made[a_id] in job(a_id).metadata["orphan_batch_ids"]
    # And B still adopts its own
    assert submit(b_id, settings=split)[0].actor == "poll" and job(b_id).ai_batch_id == made[b_id]


def test_an_unclear_create_is_still_reconciled_after_a_later_refusal(any_db, emulator, split):
    # Given an unclear create, then a resend the provider refused (429)
    a_id, _ = _two_jobs(split)
    _unclear(a_id)
    emulator.set_faults(http_errors={"create": [429] * 5}, retry_after=0.01)
    with pytest.raises(TransientError):
        submit(a_id, settings=split)
    meta = job(a_id).metadata
    assert meta["submit_outcome"] == "rejected" and meta["submit_unclear"] is True
    # And the first create's batch shows up in the list only now
    emulator.set_faults(http_errors={})
    late = get_provider(MODEL, split).create_batch(JobRequests(a_id, 5), model=MODEL, display_name="late")
    # When the next attempt runs
    submit(a_id, settings=split)
    # Then it looked first and adopted that batch instead of paying for a second one
    assert job(a_id).ai_batch_id == late.id and _created(emulator) == 1


def test_a_gemini_job_never_adopts_a_batch_recorded_on_another_job(any_db, emulator, split):
    # Given job B's gemini batch, and job A whose unclear create carried the same name
    a_id, b_id = _two_jobs(split, model="gemini-2.5-flash")
    submit(b_id, settings=split)
    b = job(b_id)
    _unclear(a_id, name=b.metadata["display_name"])
    # When A reconciles
    steps = submit(a_id, settings=split)
    # Then B's batch is not adopted: A sends its own
    a = job(a_id)
    assert steps[0].actor == "poll" and a.ai_batch_id != b.ai_batch_id
    assert emulator.stats()["gemini"]["batches_created"] == 2


def test_custom_ids_name_the_job_and_stay_valid_for_both_providers(any_db, emulator, split):
    from seobatch.models import CUSTOM_ID_RE, SeoBatchItem

    a_id, b_id = _two_jobs(split)
    for job_id in (a_id, b_id):
        ids = [i.custom_id for i in SeoBatchItem.select().where(SeoBatchItem.job == job_id)]
        assert ids and all(CUSTOM_ID_RE.match(c) and c.startswith(f"j{job_id}p") for c in ids)
        assert {SeoBatchItem.job_of_custom_id(c) for c in ids} == {job_id}
    biggest = SeoBatchItem.custom_id_for(2**63 - 1, 2**63 - 1)
    assert len(biggest) <= 64 and CUSTOM_ID_RE.match(biggest)
    assert SeoBatchItem.job_of_custom_id("p12") is None


def test_results_of_another_jobs_batch_fail_the_job_and_charge_no_page(any_db, emulator, split):
    from seobatch.models import Page, SeoBatchItem
    from seobatch.stages.results import results

    # Given job A adopted, by a wrong reconciliation, a batch made of job B's requests
    a_id, b_id = _two_jobs(split)
    provider = get_provider(MODEL, split)
    wrong = provider.create_batch(JobRequests(b_id, 5), model=MODEL, display_name="b")
    assert job(a_id).mark_submitted(wrong.id, provider="anthropic")
    # When A's results are read
    assert results(a_id, settings=split) == []
    # Then A fails with a reconciliation error naming B, and nothing was saved or charged
    a = job(a_id)
    assert a.status == "failed" and a.metadata["error"].startswith("reconciliation error:")
    assert f"job(s) {b_id}" in a.metadata["error"] and wrong.id in a.metadata["error"]
    items = list(SeoBatchItem.select().where(SeoBatchItem.job == a_id))
    assert {(i.status, i.result) for i in items} == {("failed", None)}  # settled with the job, not saved
    pages = Page.select().where(Page.id.in_([i.page_id for i in items]))
    assert [(p.seo_attempts, p.seo_last_error, p.seo_title) for p in pages] == [(0, None, None)] * 5


def test_a_job_failed_after_its_search_found_nothing_does_not_block_anothers_adoption(any_db, emulator, split):
    # Given B's unclear create was looked for, nothing was found, and B failed
    a_id, b_id = _two_jobs(split)
    _unclear(b_id)
    assert job(b_id).mark_failed("submit: gave up")
    # And A's create reached the provider, but its reply was lost
    _unclear(a_id)
    a_real = get_provider(MODEL, split).create_batch(JobRequests(a_id, 5), model=MODEL, display_name="lost")
    # When A reconciles, it adopts its batch: B is settled, not a rival
    submit(a_id, settings=split)
    assert job(a_id).ai_batch_id == a_real.id


def test_a_job_failed_for_manual_review_stays_a_rival_until_the_batch_names_its_job(any_db, emulator, split):
    # Given B failed for manual review (its search was ambiguous), and A's create was unclear
    a_id, b_id = _two_jobs(split)
    _unclear(b_id)
    SeoBatchJob.update(metadata={**job(b_id).metadata, "reconcile_unresolved": True}).where(
        SeoBatchJob.id == b_id).execute()
    assert job(b_id).mark_failed("ambiguous reconciliation: …")
    _unclear(a_id)
    _running(emulator)
    a_real = get_provider(MODEL, split).create_batch(JobRequests(a_id, 5), model=MODEL, display_name="lost")
    # When A reconciles while the batch runs, it may be B's: A adopts nothing yet
    assert submit(a_id, settings=split)[0].actor == "submit"
    assert job(a_id).ai_batch_id is None and _created(emulator) == 1
    # Once it has ended, its results say it is A's
    emulator.advance(3601)
    assert submit(a_id, settings=split)[0].actor == "poll" and job(a_id).ai_batch_id == a_real.id


def test_a_batch_of_a_job_that_will_never_adopt_it_is_recorded_as_its_orphan_and_canceled(any_db, emulator, split):
    # Given B's unclear create made a batch after B failed, and A's own batch, both ended
    a_id, b_id = _two_jobs(split)
    provider = get_provider(MODEL, split)
    _unclear(b_id)
    SeoBatchJob.update(metadata={**job(b_id).metadata, "reconcile_unresolved": True}).where(
        SeoBatchJob.id == b_id).execute()
    assert job(b_id).mark_failed("gave up")
    _running(emulator)
    b_late = provider.create_batch(JobRequests(b_id, 5), model=MODEL, display_name="late").id
    _unclear(a_id)
    a_real = provider.create_batch(JobRequests(a_id, 5), model=MODEL, display_name="lost").id
    emulator.advance(3601)
    # When A reconciles, it adopts its own and B's batch becomes B's orphan (canceled)
    assert submit(a_id, settings=split)[0].actor == "poll" and job(a_id).ai_batch_id == a_real
    assert b_late in job(b_id).metadata["orphan_batch_ids"]
    assert emulator.stats()["anthropic"]["cancel"] == 1


def test_two_batches_of_one_job_one_is_adopted_and_the_other_canceled(any_db, emulator, split):
    # Given A's create landed after A had sent again: both batches hold A's requests
    a_id, b_id = _two_jobs(split)
    _unclear(a_id)
    _unclear(b_id)  # a same-sized rival, so the results are read
    provider = get_provider(MODEL, split)
    first = provider.create_batch(JobRequests(a_id, 5), model=MODEL, display_name="one").id
    second = provider.create_batch(JobRequests(a_id, 5), model=MODEL, display_name="two").id
    # When A reconciles
    assert submit(a_id, settings=split)[0].actor == "poll"
    # Then it adopts one, and the other is its orphan, canceled: no other job takes it
    adopted = job(a_id).ai_batch_id
    assert adopted in (first, second)
    other = ({first, second} - {adopted}).pop()
    assert other in job(a_id).metadata["orphan_batch_ids"]
    assert emulator.stats()["anthropic"]["cancel"] == 1


def test_a_job_holding_the_submit_lease_is_a_rival_even_before_it_recorded_its_send(any_db, emulator, split):
    # The reviewer's repro_steal: B claimed its attempt and its batch landed; A reconciles
    from seobatch.stages import submit as stage

    a_id, b_id = _two_jobs(split)
    _unclear(a_id)
    _running(emulator)
    claim = stage._claim(job(b_id), split, db.utcnow())
    b_batch = get_provider(MODEL, split).create_batch(
        JobRequests(b_id, 5), model=MODEL, display_name=claim.meta["display_name"])
    assert submit(a_id, settings=split)[0].actor == "submit"
    assert job(a_id).ai_batch_id is None
    # B records its own batch; A's next look no longer sees a candidate of its own
    assert stage._adopt(job(b_id), claim.meta, b_batch, get_provider(MODEL, split), split, reconciled=False)
    assert job(b_id).ai_batch_id == b_batch.id
