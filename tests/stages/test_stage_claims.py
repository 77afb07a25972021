"""Claims and the sweep that reads them: a live claim is never taken, an expired one is
taken once, the stages renew theirs as they go (issue 16, item 1)."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from seobatch import db
from seobatch import jobmeta as jm
from seobatch.jobmeta import JobStatus
from seobatch.models import SeoBatchJob
from seobatch.stages import Step, claims
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.recover import grace, recover

from tests.support.pages import make_pages
from tests.support.pipeline import drive, job, make_settings


def _set(job_id: int, *, age: float = 0, **meta) -> None:
    row = job(job_id)
    merged = {k: v for k, v in {**(row.metadata or {}), **meta}.items() if v is not None}
    SeoBatchJob.update(updated_at=db.utcnow() - timedelta(seconds=age), metadata=merged).where(
        SeoBatchJob.id == job_id).execute()


def _claim(stage: str, *, renewed_ago: float, ttl: float, by: str = "web-1:4121") -> dict:
    at = db.utcnow() - timedelta(seconds=renewed_ago)
    return {jm.CLAIM_STAGE: stage, jm.CLAIM_BY: by, jm.CLAIM_AT: at.isoformat(),
            jm.CLAIM_UNTIL: (at + timedelta(seconds=ttl)).isoformat()}


def _line(found, job_id: int) -> str:
    return next(line for line in found.lines() if line.startswith(f"job {job_id}:"))


def test_a_live_claim_is_left_alone_however_long_the_job_sat_and_an_expired_one_is_acted_on(any_db):
    settings = make_settings(claim_ttl=45, stale_after=600)
    live = SeoBatchJob.create(status=JobStatus.PROCESSING, ai_batch_id="b1")
    dead = SeoBatchJob.create(status=JobStatus.PROCESSING, ai_batch_id="b2")
    collecting = SeoBatchJob.create(status=JobStatus.COLLECTING)
    _set(live.id, age=3600, **_claim("results", renewed_ago=4, ttl=45))
    _set(dead.id, age=3600, **_claim("results", renewed_ago=140, ttl=45))
    _set(collecting.id, age=5, **_claim("collect", renewed_ago=50, ttl=45))
    found = recover(settings=settings)
    assert found.steps == [Step("results", dead.id), Step("collect", collecting.id)]
    assert "results saved by a live worker (web-1:4121) 4 s ago" in _line(found, live.id)
    assert _line(found, live.id).endswith("→ left alone")
    assert re.search(r"results claim of web-1:4121 expired 9[4-6] s ago → results enqueued again$",
                     _line(found, dead.id))
    # The sweep took the claim over: the next sweep waits for the stage it sent.
    meta = job(dead.id).metadata
    assert meta[jm.CLAIM_BY].startswith(claims.SWEEP) and meta[jm.RECOVERIES] == 1
    again = recover(settings=settings)
    assert again.steps == []
    assert "enqueued by a sweep 0 s ago, not started yet" in _line(again, dead.id)


def test_a_claim_counts_only_for_its_own_stage(any_db):
    settings = make_settings(claim_ttl=45, stale_after=600)
    j = SeoBatchJob.create(status=JobStatus.SUBMITTING)
    _set(j.id, age=10, **_claim("collect", renewed_ago=0, ttl=45))  # left over from collect
    assert claims.read(job(j.id).metadata, JobStatus.SUBMITTING) is None
    assert claims.read(job(j.id).metadata, JobStatus.COLLECTING) is not None
    found = recover(settings=settings)
    assert found.steps == [] and "not claimed by any worker" in _line(found, j.id)


def test_of_two_sweeps_at_once_one_enqueues(any_db):
    settings = make_settings(claim_ttl=45)
    j = SeoBatchJob.create(status=JobStatus.COLLECTING)
    _set(j.id, **_claim("collect", renewed_ago=100, ttl=45))
    seen = dict(job(j.id).metadata)
    changes = claims.fields("collect", settings, by=claims.SWEEP + "a")
    assert claims.hand_off(j.id, JobStatus.COLLECTING, seen, changes) is True
    assert claims.hand_off(j.id, JobStatus.COLLECTING, seen, changes) is False  # what it read changed
    # And through recover: two sweeps that read the same rows, the second one finds it taken.
    k = SeoBatchJob.create(status=JobStatus.COLLECTING)
    _set(k.id, **_claim("collect", renewed_ago=100, ttl=45))
    results: list[list[Step]] = []
    barrier = threading.Barrier(2)

    def sweep() -> None:
        with db.connection(fresh=True):
            barrier.wait()
            results.append(recover(settings=settings).steps)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len([s for s in r if s.job_id == k.id]) for r in results) == [0, 1]


def test_an_overdue_poll_is_sent_again_a_due_one_is_not_and_the_wait_doubles(any_db):
    settings = make_settings(claim_ttl=45, stale_after=600)
    now = db.utcnow()
    ahead = SeoBatchJob.create(status=JobStatus.PROCESSING, ai_batch_id="b1")
    late = SeoBatchJob.create(status=JobStatus.PROCESSING, ai_batch_id="b2")
    _set(ahead.id, **{jm.NEXT_POLL_AT: (now + timedelta(seconds=300)).isoformat()})
    _set(late.id, **{jm.NEXT_POLL_AT: (now - timedelta(seconds=50)).isoformat()})
    found = recover(settings=settings)
    assert found.steps == [Step("poll", late.id)]
    assert "next poll due in" in _line(found, ahead.id)
    assert job(late.id).metadata.get(jm.NEXT_POLL_AT) is None  # the poll sent is due at once
    # The second recovery of one job waits twice as long, up to SEOBATCH_STALE_AFTER.
    assert [grace({jm.RECOVERIES: n}, settings) for n in (0, 1, 2, 5)] == [45, 90, 180, 600]
    _set(late.id, age=60)
    assert recover(settings=settings).steps == []  # 60 s < 90 s
    _set(late.id, age=100)
    assert recover(settings=settings).steps == [Step("poll", late.id)]


def test_collect_claims_the_job_and_renews_the_claim_with_each_chunk(any_db, emulator):
    settings = make_settings(emulator, chunk_size=2, claim_ttl=45)
    make_pages(5)
    j = kickoff(settings=settings).job
    stamps: list[str] = []
    real = claims.fields

    def spy(stage, settings, **kw):
        got = real(stage, settings, **kw)
        stamps.append(got[jm.CLAIM_AT])
        return got

    claims.fields = spy
    try:
        collect(j.id, settings=settings)
    finally:
        claims.fields = real
    assert len(stamps) >= 4  # the start, then one per chunk (5 pages in chunks of 2, and the end)
    meta = job(j.id).metadata
    assert job(j.id).status == JobStatus.SUBMITTING
    assert not any(meta.get(k) for k in claims.KEYS)  # released when the stage ends


def test_the_submit_heartbeat_renews_the_lease_until_its_cap_and_stops_once_the_lease_is_taken(any_db):
    settings = make_settings(claim_ttl=3)  # beats every second
    j = SeoBatchJob.create(status=JobStatus.SUBMITTING)
    start = db.utcnow()
    first = (start + timedelta(seconds=3)).isoformat()
    _set(j.id, **{jm.SUBMIT_LEASE_UNTIL: first})
    with claims.heartbeat(j.id, settings, lease=first, cap=start + timedelta(seconds=30)):
        time.sleep(2.5)
        renewed = job(j.id).metadata
    assert renewed[jm.SUBMIT_LEASE_UNTIL] > first and renewed[jm.CLAIM_UNTIL] == renewed[jm.SUBMIT_LEASE_UNTIL]
    assert renewed[jm.CLAIM_BY] == claims.owner()
    # Capped: never past the attempt's SEOBATCH_SUBMIT_LEASE (here: before the lease's end).
    cap = db.utcnow() + timedelta(seconds=1)
    lease = job(j.id).metadata[jm.SUBMIT_LEASE_UNTIL]
    with claims.heartbeat(j.id, settings, lease=lease, cap=cap):
        time.sleep(2.5)
    assert job(j.id).metadata[jm.SUBMIT_LEASE_UNTIL] == lease
    # Taken by another attempt: the beats stop and never overwrite it.
    theirs = (db.utcnow() + timedelta(seconds=100)).isoformat()
    with claims.heartbeat(j.id, settings, lease="not ours", cap=db.utcnow() + timedelta(seconds=30)):
        _set(j.id, **{jm.SUBMIT_LEASE_UNTIL: theirs})
        time.sleep(1.5)
    assert job(j.id).metadata[jm.SUBMIT_LEASE_UNTIL] == theirs


def test_results_renew_the_claim_per_chunk_and_release_it_at_the_end(any_db, emulator):
    settings = make_settings(emulator, chunk_size=3, claim_ttl=45)
    make_pages(7)
    j = kickoff(settings=settings).job
    writes: list[dict] = []
    real = claims.fields

    def spy(stage, settings, **kw):
        got = real(stage, settings, **kw)
        if stage == "results":
            writes.append(got)
        return got

    claims.fields = spy
    try:
        drive([Step("collect", j.id)], settings)
    finally:
        claims.fields = real
    assert job(j.id).status == JobStatus.COMPLETED
    # Taken at the start, renewed with each chunk's progress write (3 chunks of 7 results;
    # PostgreSQL saves two chunks at once and writes once per pair).
    assert len(writes) >= 1 + 2
    assert not any(job(j.id).metadata.get(k) for k in claims.KEYS)
