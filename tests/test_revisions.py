"""Revisions through the real pipeline (kickoff, collect, submit, results) on SQLite and
PostgreSQL: every state change, the three policies, the change budget, locked pages,
review decisions and their bad input, rollback (dry run, idempotent, to the original)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import peewee
import pytest

from seobatch import revisions
from seobatch.errors import InputError
from seobatch.models import Page, PageRevision, SeoBatchEvent, SeoBatchItem
from seobatch.providers.base import ItemResult
from seobatch.revisions import Filter, Reason, Source, State
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.results import results
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import FakeProvider, make_settings

_BATCH_IDS = itertools.count(1)


class Night(FakeProvider):
    """The fake provider, with a word of the night in every title (tell nights apart)."""

    def __init__(self, word: str = "good") -> None:
        super().__init__()
        self.word = word
        self._ids = _BATCH_IDS  # batch ids unique across nights

    def iter_results(self, batch):
        for result in super().iter_results(batch):
            if result.outcome == "succeeded" and result.text:
                reply = json.loads(result.text)
                reply["title"] = f"{self.word.title()} {reply['title']}"[:70]
                result = ItemResult(result.custom_id, result.outcome, json.dumps(reply),
                                    result.input_tokens, result.output_tokens)
            yield result


def run_night(settings, word="good", **overrides) -> list[int]:
    """One night's run to the end; returns its job ids (a split run has several)."""
    from seobatch.models import SeoBatchJob

    settings = settings.with_(**overrides) if overrides else settings
    provider = Night(word)
    first = kickoff(settings=settings).job
    run, done = first.metadata["run"], []
    while True:
        todo = [j.id for j in SeoBatchJob.select().order_by(SeoBatchJob.id)
                if (j.metadata or {}).get("run") == run and j.id not in done]
        if not todo:
            return done
        job_id = todo[0]
        collect(job_id, settings=settings, provider=provider)
        submit(job_id, settings=settings, provider=provider)
        results(job_id, settings=settings, provider=provider)
        assert SeoBatchJob.get_by_id(job_id).status == "completed"
        done.append(job_id)


def regenerate_all() -> None:
    """As if the prompt changed: every page is collected again next night."""
    Page.update(seo_content_hash=None).execute()


def assert_consistent() -> None:
    """At most one published revision per page, and the page's live fields are its values."""
    r = PageRevision
    for page in Page.select():
        live = list(r.select().where((r.page_id == page.id) & (r.state == State.PUBLISHED)))
        assert len(live) <= 1, page.url
        if live:
            assert (page.seo_title, page.seo_description) == (live[0].title, live[0].description), page.url
        else:
            assert (page.seo_title, page.seo_description) == (None, None), page.url


def states(job_id: int) -> dict[str, int]:
    r = PageRevision
    return {s: n for s, n in r.select(r.state, peewee.fn.COUNT(r.id)).where(r.job == job_id).group_by(r.state).tuples()}


@pytest.fixture
def settings():
    return make_settings(chunk_size=4)


def test_auto_publishes_every_valid_reply_with_its_trail_and_one_event(any_db, settings):
    make_pages(10)
    (job_id,) = run_night(settings)
    assert states(job_id) == {State.PUBLISHED: 10}
    r = PageRevision
    for page in Page.select():
        original, generated = list(r.select().where(r.page_id == page.id).order_by(r.id))
        assert (original.source, original.title, original.state) == (Source.ORIGINAL, page.title, State.SUPERSEDED)
        assert generated.replaces_id == original.id and generated.item_id is not None
        assert SeoBatchItem.get_by_id(generated.item_id).page_id == page.id
        assert page.seo_title == generated.title and page.seo_title.startswith("Good ")
        assert (generated.model, generated.prompt_version) == (page.seo_model, page.seo_prompt_version)
    assert_consistent()
    (event,) = SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published")
    assert event.payload["job_id"] == job_id and event.payload["published"] == 10
    assert event.payload["read"]["change_id"] == event.payload["change_id"] == f"job-{job_id}"
    # The changed pages are read a chunk at a time, never all ids in one message
    seen, after = [], 0
    while chunk := revisions.changed_pages(event.payload["change_id"], after_page_id=after, limit=3):
        assert len(chunk) <= 3
        seen += chunk
        after = chunk[-1].page_id
    assert sorted(p.url for p in seen) == sorted(p.url for p in Page.select())
    assert {p.seo_title for p in seen} == {p.seo_title for p in Page.select()}


def test_a_bad_night_is_rolled_back_after_a_dry_run_and_a_second_rollback_changes_nothing(any_db, settings):
    make_pages(6)
    (good,) = run_night(settings, "good")
    before = {p.url: (p.seo_title, p.seo_description) for p in Page.select()}
    regenerate_all()
    (bad,) = run_night(settings, "bad")
    assert all(p.seo_title.startswith("Bad ") for p in Page.select())
    # The dry run says what it would do and changes nothing
    plan = revisions.rollback([bad], by="maria", dry_run=True)
    assert (plan.pages, plan.to_generated, plan.to_original) == (6, 6, 0)
    assert plan.examples[0]["live"].startswith("Bad ") and plan.examples[0]["restored"].startswith("Good ")
    assert all(p.seo_title.startswith("Bad ") for p in Page.select())
    # The rollback restores last night's values, recording who and when
    done = revisions.rollback([bad], by="maria")
    assert done.pages == 6 and done.change_id
    assert (done.pages, done.to_generated, done.to_original, done.examples) == (
        plan.pages, plan.to_generated, plan.to_original, plan.examples)  # the dry run showed exactly this
    assert {p.url: (p.seo_title, p.seo_description) for p in Page.select()} == before
    assert states(bad) == {State.ROLLED_BACK: 6} and states(good) == {State.PUBLISHED: 6}
    assert {r.decided_by for r in PageRevision.select().where(PageRevision.job == bad)} == {"maria"}
    assert_consistent()
    (event,) = SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_rolled_back")
    assert event.payload["rolled_back"] == 6 and event.payload["job_ids"] == [bad]
    assert len(revisions.changed_pages(event.payload["change_id"])) == 6
    # Idempotent: again, it explains and changes nothing
    with pytest.raises(InputError, match="already rolled back"):
        revisions.rollback([bad], by="maria")
    assert {p.url: (p.seo_title, p.seo_description) for p in Page.select()} == before
    # Rolling back the good night too goes back to the originals (the import's title)
    revisions.rollback([good], by="maria")
    assert all((p.seo_title, p.seo_description) == (p.title, None) for p in Page.select())
    assert_consistent()


def test_rolling_back_two_stacked_nights_at_once_goes_past_both_to_the_originals(any_db, settings):
    make_pages(4)
    (good,) = run_night(settings, "good")
    regenerate_all()
    (bad,) = run_night(settings, "bad")
    # The bad night's revisions replaced the good night's, which are in the same rollback:
    # the walk goes one further, to each page's original.
    plan = revisions.rollback([bad, good], by="ops", dry_run=True)
    assert (plan.pages, plan.to_generated, plan.to_original) == (4, 0, 4)
    done = revisions.rollback([good, bad], by="ops")
    assert (done.pages, done.to_generated, done.to_original) == (4, 0, 4)
    assert all((p.seo_title, p.seo_description) == (p.title, None) for p in Page.select())
    assert states(bad) == {State.ROLLED_BACK: 4} and states(good) == {State.SUPERSEDED: 4}
    assert_consistent()


def test_rolling_back_a_job_that_published_nothing_explains_itself(any_db, settings):
    make_pages(3)
    (job_id,) = run_night(settings.with_(publish="review"))
    with pytest.raises(InputError, match=f"job {job_id} published nothing"):
        revisions.rollback([job_id], by="x")
    with pytest.raises(InputError, match="job 999 does not exist"):
        revisions.resolve_jobs(job=999)
    with pytest.raises(InputError, match="no job belongs to run"):
        revisions.resolve_jobs(run="nope")


def test_review_holds_everything_then_approve_and_reject_decide_recording_who(any_db, settings):
    make_pages(8)
    (job_id,) = run_night(settings.with_(publish="review"))
    assert states(job_id) == {State.PROPOSED: 8}
    assert Page.select().where(Page.seo_title.is_null(False)).count() == 0
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published").count() == 0
    # Held replies are not paid for again: tomorrow collects nothing
    nxt = kickoff(settings=settings).job
    collect(nxt.id, settings=settings, provider=Night())
    assert SeoBatchItem.select().where(SeoBatchItem.job == nxt.id).count() == 0
    # Keyset pages through the queue
    first = revisions.list_proposed(Filter(job=job_id), limit=5)
    rest = revisions.list_proposed(Filter(job=job_id), after_id=first[-1].id, limit=5)
    assert len(first) == 5 and len(rest) == 3 and first[-1].id < rest[0].id
    assert first[0].old_title is None and first[0].title.startswith("Good ") and first[0].reason == Reason.REVIEW
    assert revisions.count_proposed(Filter(job=job_id)) == 8
    # Approve two by id: published, with who and when
    ids = (first[0].id, first[1].id)
    decision = revisions.approve(Filter(ids=ids), by="maria")
    assert decision.count == 2
    for rid in ids:
        rev = PageRevision.get_by_id(rid)
        assert (rev.state, rev.decided_by) == (State.PUBLISHED, "maria") and rev.decided_at and rev.published_at
        assert Page.get_by_id(rev.page_id).seo_title == rev.title
    (event,) = SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published")
    assert event.payload["published"] == 2 and len(revisions.changed_pages(event.payload["change_id"])) == 2
    # Reject one, then the rest by filter
    assert revisions.reject(Filter(ids=(first[2].id,)), by="li").count == 1
    assert PageRevision.get_by_id(first[2].id).state == State.REJECTED
    assert Page.get_by_id(first[2].page_id).seo_title is None
    assert revisions.approve(Filter(job=job_id), by="maria").count == 5
    assert states(job_id) == {State.PUBLISHED: 7, State.REJECTED: 1}
    assert_consistent()


def test_bad_decisions_explain_in_one_line_and_change_nothing(any_db, settings):
    make_pages(3)
    run_night(settings.with_(publish="review"))
    proposals = revisions.list_proposed()
    revisions.reject(Filter(ids=(proposals[0].id,)), by="x")
    snapshot = list(PageRevision.select(PageRevision.id, PageRevision.state).order_by(PageRevision.id).tuples())
    with pytest.raises(InputError, match=r"revision \d+ is rejected, not proposed; nothing changed"):
        revisions.approve(Filter(ids=(proposals[1].id, proposals[0].id)), by="x")
    with pytest.raises(InputError, match="revision 99999 does not exist"):
        revisions.approve(Filter(ids=(99999,)), by="x")
    with pytest.raises(InputError, match="no proposed revision matches job 9, language fr; nothing to approve"):
        revisions.approve(Filter(job=9, language="fr"), by="x")
    with pytest.raises(InputError, match="no proposed revision matches host other.example.com"):
        revisions.reject(Filter(host="other.example.com"), by="x")
    with pytest.raises(InputError, match="--host must be a host name"):
        Filter(host="x'; DROP TABLE seo_pages; --")
    after = list(PageRevision.select(PageRevision.id, PageRevision.state).order_by(PageRevision.id).tuples())
    assert after == snapshot
    # A newer reply supersedes the proposal: approving the old one is refused
    regenerate_all()
    run_night(settings.with_(publish="review"), "newer")
    with pytest.raises(InputError, match=r"revision \d+ is no longer the newest for https://shop\.example\.com/p/\d+ "
                                         r"\(revision \d+ is\); nothing changed"):
        revisions.approve(Filter(ids=(proposals[1].id,)), by="x")
    assert PageRevision.get_by_id(proposals[1].id).state == State.SUPERSEDED
    assert Page.select().where(Page.seo_title.is_null(False)).count() == 0
    assert_consistent()


def test_filters_by_language_host_and_run(any_db, settings):
    make_pages(4)
    Page.update(attributes={"language": "fr"}).where(Page.id <= 2).execute()
    # (the gate off: its language check would reject the emulator's English replies on them)
    (job_id,) = run_night(settings.with_(publish="review", quality_gate=False))
    assert revisions.count_proposed(Filter(language="FR")) == 2
    assert revisions.count_proposed(Filter(host="shop.example.com")) == 4
    from seobatch.models import SeoBatchJob

    run = SeoBatchJob.get_by_id(job_id).metadata["run"]
    assert revisions.count_proposed(Filter(run=run)) == 4
    assert revisions.approve(Filter(language="fr", run=run), by="x").count == 2
    assert {p.attributes and p.attributes.get("language") for p in Page.select().where(Page.seo_title.is_null(False))} == {"fr"}


@dataclass
class Verdict:
    """The quality gate's verdict as the results stage will hand it over."""

    action: str
    checks: tuple = ()
    repairs: tuple = ()
    title_px: float = 300.0
    description_px: float = 700.0


def _save(job_id: int, publishing, actions: dict[int, str]) -> None:
    from seobatch import db
    from seobatch.db import utcnow
    from seobatch.models import SeoBatchJob

    job = SeoBatchJob.get_by_id(job_id)
    replies = [revisions.Generated(pid, f"Title {pid} of the night", f"Description of page {pid}. " * 3,
                                   job.model, utcnow(), "h", "v1", None,
                                   Verdict(a, checks=({"name": "title_too_wide", "severity": "warning"},)
                                           if a == "flag" else ()))
               for pid, a in actions.items()]
    with db.write_transaction():
        revisions.save_generated(job, replies, publishing)


def test_flagged_replies_publish_under_auto_and_wait_under_flagged_with_their_checks(any_db, settings):
    pages = make_pages(4)
    ids = [p.id for p in pages]
    job = kickoff(settings=settings).job
    actions = {ids[0]: "publish", ids[1]: "flag", ids[2]: "flag", ids[3]: "reject"}
    _save(job.id, revisions.Publishing(policy=revisions.Policy.FLAGGED), actions)
    r = PageRevision
    got = {row.page_id: (row.state, row.reason, row.flagged) for row in r.select().where(r.job == job.id)}
    assert got == {ids[0]: (State.PUBLISHED, None, False), ids[1]: (State.PROPOSED, Reason.FLAGGED, True),
                   ids[2]: (State.PROPOSED, Reason.FLAGGED, True), ids[3]: (State.REJECTED, Reason.GATE, False)}
    # A gate reject leaves the page to be tried again (its bookkeeping untouched)
    assert Page.get_by_id(ids[3]).seo_content_hash is None
    assert revisions.count_proposed(Filter(check="title_too_wide")) == 2
    assert revisions.count_proposed(Filter(check="language_mismatch")) == 0
    (proposal, _) = revisions.list_proposed(Filter(flagged=True))
    assert proposal.title_px == 300.0 and proposal.checks[0]["name"] == "title_too_wide"
    # Under auto, flagged ones are published and counted
    _save(job.id, revisions.Publishing(policy=revisions.Policy.AUTO), {ids[1]: "flag"})
    counts = revisions.stage_counts(job.id)
    assert counts["published"] == 2 and counts["flagged"] == 1 and counts["gate_rejected"] == 1
    # The newer reply superseded the older proposal for ids[1]
    assert r.select().where((r.page_id == ids[1]) & (r.state == State.PROPOSED)).count() == 0
    assert_consistent()


@pytest.mark.parametrize("budget, published", [("3", 3), ("20%", 2), ("0", 0)])
def test_the_change_budget_publishes_that_many_and_keeps_the_rest_proposed(any_db, settings, budget, published):
    make_pages(10)
    (job_id,) = run_night(settings.with_(max_changes=budget))
    assert states(job_id).get(State.PUBLISHED, 0) == published
    r = PageRevision
    held = r.select().where((r.job == job_id) & (r.state == State.PROPOSED))
    assert held.count() == 10 - published and {x.reason for x in held} <= {Reason.BUDGET}
    assert Page.select().where(Page.seo_title.is_null(False)).count() == published
    assert_consistent()


def test_the_budget_is_per_run_across_the_jobs_it_is_split_into(any_db, settings):
    make_pages(10)
    ids = run_night(settings.with_(max_changes="6", batch_max_requests=4))
    assert len(ids) == 4  # 4, 3, 2, 1: the jobs of a split run are one item smaller each
    assert sum(states(j).get(State.PUBLISHED, 0) for j in ids) == 6
    assert sum(states(j).get(State.PROPOSED, 0) for j in ids) == 4


def test_locked_pages_are_never_overwritten(any_db, settings, tmp_path):
    from seobatch import pages as pages_io

    src = tmp_path / "pages.csv"
    src.write_text("url,title,content,seo_locked\n"
                   "https://shop.example.com/a,Chair A,Oak chairs by hand from our workshop,true\n"
                   "https://shop.example.com/b,Chair B,Oak chairs by hand from our workshop,\n", encoding="utf-8")
    pages_io.import_pages(str(src))
    a = Page.get(Page.url == "https://shop.example.com/a")
    assert a.seo_locked and not Page.get(Page.url == "https://shop.example.com/b").seo_locked
    Page.update(seo_title="Edited by hand").where(Page.id == a.id).execute()
    (job_id,) = run_night(settings)
    a = Page.get_by_id(a.id)
    assert a.seo_title == "Edited by hand"
    rev = PageRevision.get((PageRevision.page_id == a.id) & (PageRevision.job == job_id))
    assert (rev.state, rev.reason) == (State.REJECTED, Reason.LOCKED)
    assert Page.get(Page.url == "https://shop.example.com/b").seo_title.startswith("Good ")
    # A proposal stored before the page was locked is not approved over it
    Page.update(seo_locked=False).where(Page.id == a.id).execute()
    regenerate_all()
    run_night(settings.with_(publish="review"), "later")
    Page.update(seo_locked=True).where(Page.id == a.id).execute()
    proposal = PageRevision.get((PageRevision.page_id == a.id) & (PageRevision.state == State.PROPOSED))
    with pytest.raises(InputError, match="is locked"):
        revisions.approve(Filter(ids=(proposal.id,)), by="x")
    decision = revisions.approve(Filter(), by="x")
    assert decision.count == 1 and decision.skipped_locked == 1
    assert Page.get_by_id(a.id).seo_title == "Edited by hand"


def test_pages_export_writes_the_published_values_or_the_proposals(any_db, settings):
    import io

    from seobatch import pages as pages_io

    make_pages(3)
    run_night(settings)
    regenerate_all()
    run_night(settings.with_(publish="review"), "waiting")
    live = io.StringIO()
    pages_io.export_pages(None, stream=live)
    assert all(json.loads(line)["seo_title"].startswith("Good ") for line in live.getvalue().splitlines())
    held = io.StringIO()
    assert pages_io.export_pages(None, stream=held, state="proposed") == 3
    assert all(json.loads(line)["seo_title"].startswith("Waiting ") for line in held.getvalue().splitlines())


def test_diff_shows_old_and_new_of_a_job(any_db, settings):
    make_pages(3)
    (first,) = run_night(settings)
    regenerate_all()
    (second,) = run_night(settings, "second")
    changes = list(revisions.diff([second], chunk_size=2))
    assert len(changes) == 3
    assert all(c.old_title.startswith("Good ") and c.title.startswith("Second ") for c in changes)
    assert all(c.state == State.PUBLISHED for c in changes)
    assert {c.old_title for c in revisions.diff([first])} == {p.title for p in Page.select()}


class SlowNight(Night):
    """Results that trickle in, so a rollback lands while they are being saved."""

    def iter_results(self, batch):
        import time

        for result in super().iter_results(batch):
            time.sleep(0.05)
            yield result


def test_rollback_while_another_job_saves_its_results_keeps_every_page_consistent(any_db, settings):
    import threading

    from seobatch import db
    from seobatch.models import SeoBatchJob

    make_pages(40)
    (a,) = run_night(settings, "first")
    # Job B regenerates half the pages (20..40), overlapping A's
    overlap = Page.select(Page.id).where(Page.id > 20)
    Page.update(seo_content_hash=None).where(Page.id.in_(overlap)).execute()
    provider = SlowNight("second")
    b = kickoff(settings=settings).job.id
    collect(b, settings=settings, provider=provider)
    submit(b, settings=settings, provider=provider)
    errors: list[BaseException] = []

    def save_b():
        try:
            results(b, settings=settings, provider=provider)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            db.database.close()

    saver = threading.Thread(target=save_b)
    saver.start()
    deadline = __import__("time").monotonic() + 30
    while not PageRevision.select().where(PageRevision.job == b).exists():
        assert __import__("time").monotonic() < deadline
    plan = revisions.rollback([a], by="ops")
    # It ran while B was mid-way (B's 20 results take a second to trickle in)
    assert SeoBatchJob.get_by_id(b).status == "processing"
    saver.join(60)
    assert not saver.is_alive() and not errors
    assert SeoBatchJob.get_by_id(b).status == "completed"
    assert 0 < plan.pages <= 40
    # Whatever the interleaving: B's pages show B's reply, A's other pages their original
    for page in Page.select():
        if page.id > 20:
            assert page.seo_title.startswith("Second "), page.url
        else:
            assert page.seo_title == page.title, page.url
    assert_consistent()
    # And rolling back again finds nothing of A live
    with pytest.raises(InputError):
        revisions.rollback([a], by="ops")
