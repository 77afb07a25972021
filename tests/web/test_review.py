"""The review queue, rollback and audit pages: every view and permission, on PostgreSQL and
SQLite (Flask's test client), deciding through the revisions package for real."""

from __future__ import annotations

import re

import pytest

from seobatch import db
from seobatch.models import Page, PageRevision, SeoBatchEvent
from seobatch.revisions import State

from tests.web.conftest import csrf_of
from tests.web.seed import LONG_TITLE, proposed_job

CHECK = [{"name": "title_too_wide", "severity": "warning", "field": "title", "detail": "612 px"}]


def text(response) -> str:
    return response.get_data(as_text=True)


def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-revision="(\d+)"', page)]


def post(client, path: str, data: dict, page: str = "/review"):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page)})


def test_the_queue_shows_old_and_new_with_both_previews_checks_and_filters(clients):
    short = proposed_job(["Oak chairs | Shop"], language="de", host="www.shop.de")
    wide = proposed_job([LONG_TITLE, "<script>alert(1)</script> chairs"], checks=CHECK, flagged=True)
    page = text(clients["viewer"].get("/review"))
    assert len(ids_on(page)) == 3
    assert page.count("Live now") == 3 and LONG_TITLE in page  # old and new side by side
    assert page.count("Nothing generated is live yet") == 3  # and no empty previews for it
    assert page.count('data-profile="desktop"') == 3 and page.count('data-profile="mobile"') == 3
    assert "title_too_wide" in page and "612 px" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    # the long title is cut on the server, the short one fits
    cut = re.search(rf'id="revision-{ids_on(page)[1]}".*?</article>', page, re.S).group(0)
    assert 'data-truncated="title' in cut
    assert len(ids_on(text(clients["viewer"].get(f"/review?job={short.id}")))) == 1
    assert len(ids_on(text(clients["viewer"].get("/review?language=de")))) == 1
    assert len(ids_on(text(clients["viewer"].get("/review?host=www.shop.de")))) == 1
    assert len(ids_on(text(clients["viewer"].get("/review?check=title_too_wide")))) == 2
    assert len(ids_on(text(clients["viewer"].get("/review?flagged=yes")))) == 2
    assert len(ids_on(text(clients["viewer"].get("/review?flagged=no")))) == 1
    assert len(ids_on(text(clients["viewer"].get(f"/review?job={wide.id}&flagged=no")))) == 0
    # viewers see no decision buttons
    assert 'name="ids"' not in page and 'name="ids"' in text(clients["reviewer"].get("/review"))


@pytest.mark.parametrize("query", ["job=abc", "flagged=maybe", "host=a%20b", "check=Bad-Name"])
def test_a_bad_filter_is_a_400_with_its_reason(clients, query):
    response = clients["viewer"].get(f"/review?{query}")
    assert response.status_code == 400 and "Traceback" not in text(response)


def test_the_queue_pages_by_keyset_on_the_revision_id(clients, monkeypatch):
    from seobatch.web.views import review

    monkeypatch.setattr(review, "PAGE_SIZE", 2)
    proposed_job([f"Title number {i} | Shop" for i in range(5)])
    first = text(clients["viewer"].get("/review"))
    after = re.search(r'rel="next" href="/review\?after=(\d+)"', first).group(1)
    second = text(clients["viewer"].get(f"/review?after={after}"))
    third_after = re.search(r'after=(\d+)', second.split('rel="next"')[1]).group(1)
    third = text(clients["viewer"].get(f"/review?after={third_after}"))
    seen = ids_on(first) + ids_on(second) + ids_on(third)
    assert seen == sorted(seen) and len(set(seen)) == 5 and 'rel="next"' not in third


@pytest.mark.parametrize("role", ["anon", "viewer"])
def test_only_reviewers_and_admins_decide(clients, role):
    proposed_job(["Oak chairs | Shop"])
    rid = PageRevision.get(PageRevision.state == State.PROPOSED).id
    client = clients[role]
    token = csrf_of(client, "/review" if role == "viewer" else "/login")
    for path, data in (("/review/decide", {"one": f"approve:{rid}"}), ("/review/all", {"verb": "approve"})):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code in (401, 403, 302) and "Traceback" not in text(response)
        if role == "anon" and response.status_code == 302:
            assert "/login" in response.headers["Location"]
    assert client.get("/review/all?verb=approve").status_code in (302, 401, 403)
    assert PageRevision.get_by_id(rid).state == State.PROPOSED


def test_a_reviewer_approves_one_and_the_page_goes_live_recording_who(clients):
    proposed_job(["Oak chairs | Shop", "Pine tables | Shop"])
    proposed = PageRevision.select().where(PageRevision.state == State.PROPOSED).order_by(PageRevision.id)
    first, second = [r.id for r in proposed]
    response = post(clients["reviewer"], "/review/decide",
                    {"one": f"approve:{first}", "ids": [str(second)], "verb": "reject"})
    assert response.status_code == 302
    rev = PageRevision.get_by_id(first)
    assert (rev.state, rev.decided_by) == (State.PUBLISHED, "reviewer")
    assert Page.get_by_id(rev.page_id).seo_title == "Oak chairs | Shop"
    assert PageRevision.get_by_id(second).state == State.PROPOSED  # the row's button decides its row only
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published").count() == 1


def test_a_selection_is_approved_or_rejected_in_one_post(clients):
    proposed_job(["A title one | Shop", "A title two | Shop", "A title three | Shop"])
    ids = [r.id for r in PageRevision.select().where(PageRevision.state == State.PROPOSED).order_by(PageRevision.id)]
    post(clients["reviewer"], "/review/decide", {"ids": [str(ids[0]), str(ids[2])], "verb": "reject"})
    states = {r.id: (r.state, r.decided_by) for r in PageRevision.select().where(PageRevision.id.in_(ids))}
    assert states == {ids[0]: (State.REJECTED, "reviewer"), ids[1]: (State.PROPOSED, None),
                      ids[2]: (State.REJECTED, "reviewer")}
    # deciding again what is decided: a one-line message, nothing changes
    response = post(clients["admin"], "/review/decide", {"ids": [str(ids[0])], "verb": "approve"})
    page = text(clients["admin"].get(response.headers["Location"]))
    assert "not proposed; nothing changed" in page
    assert PageRevision.get_by_id(ids[0]).state == State.REJECTED


def test_everything_a_filter_matches_is_approved_after_a_confirmation_with_the_count(clients):
    de = proposed_job(["Stühle aus Eiche | Shop", "Tische aus Kiefer | Shop"], language="de")
    proposed_job(["Oak chairs | Shop"], language="en")
    confirm = clients["admin"].get("/review/all?verb=approve&language=de")
    page = text(confirm)
    assert confirm.status_code == 200 and "Approve 2 proposed revisions?" in page
    assert PageRevision.select().where(PageRevision.state == State.PUBLISHED).count() == 0  # GET changes nothing
    post(clients["admin"], "/review/all", {"verb": "approve", "language": "de"}, "/review/all?verb=approve&language=de")
    live = PageRevision.select().where(PageRevision.state == State.PUBLISHED)
    assert {r.job_id for r in live} == {de.id} and live.count() == 2
    assert {r.decided_by for r in live} == {"admin"}
    assert PageRevision.select().where(PageRevision.state == State.PROPOSED).count() == 1
    assert "Approve 0 proposed revisions?" in text(clients["admin"].get("/review/all?verb=approve&language=de"))


def test_a_confirmation_over_the_cap_says_more_than_and_labels_any_estimate(clients, monkeypatch):
    from seobatch.web.views import review

    monkeypatch.setattr(review, "CONFIRM_CAP", 2)
    proposed_job(["Stühle aus Eiche | Shop", "Tische aus Kiefer | Shop", "Betten aus Birke | Shop"], language="de")
    proposed_job(["Oak chairs | Shop"], language="en")
    if db.is_postgres():
        db.database.execute_sql("ANALYZE seo_page_revisions")  # the planner's estimate, from its statistics
    page = text(clients["admin"].get("/review/all?verb=approve"))
    assert "Approve more than 2 proposed revisions?" in page and 'data-count-over="2"' in page
    assert "all matching (more than 2)" in page
    # PostgreSQL's estimate of the total, only ever shown as one; SQLite has none
    assert ("<strong>About 4</strong>" in page and "<em>estimate</em>" in page) == db.is_postgres()
    page = text(clients["admin"].get("/review/all?verb=approve&language=de"))
    assert "Approve more than 2 proposed revisions?" in page
    response = post(clients["admin"], "/review/all", {"verb": "approve", "language": "de"},
                    "/review/all?verb=approve&language=de")
    assert "approved 3 revisions" in text(clients["admin"].get(response.headers["Location"]))
    assert 'data-count="1"' in text(clients["admin"].get("/review/all?verb=approve"))  # under the cap: exact


@pytest.mark.parametrize("cap, want", [(10, (3, True)), (3, (3, True)), (2, (2, False)), (1, (1, False))])
def test_count_proposed_upto_is_exact_up_to_its_cap(clients, cap, want):
    from seobatch import revisions

    proposed_job(["Oak chairs | Shop", "Pine tables | Shop", "Birch beds | Shop"], host="www.shop.de", language="de")
    proposed_job(["Oak chairs | Shop"])
    for filter_ in (revisions.Filter(host="www.shop.de"), revisions.Filter(language="DE")):
        count = revisions.count_proposed_upto(filter_, cap)
        assert (count.n, count.exact) == want
        assert count.estimate is None or (not count.exact and count.estimate > cap)
    assert revisions.count_proposed_upto(revisions.Filter(), cap).n == min(4, cap)


def test_decisions_need_the_csrf_token(clients):
    proposed_job(["Oak chairs | Shop"])
    rid = PageRevision.get(PageRevision.state == State.PROPOSED).id
    response = clients["admin"].post("/review/decide", data={"one": f"approve:{rid}"})
    assert response.status_code in (400, 403)
    assert PageRevision.get_by_id(rid).state == State.PROPOSED


@pytest.mark.parametrize("role", ["anon", "viewer", "reviewer"])
def test_only_admins_roll_back(clients, role):
    job = proposed_job(["Oak chairs | Shop"])
    post(clients["admin"], "/review/all", {"verb": "approve"}, "/review/all?verb=approve")
    assert clients[role].get(f"/rollback?job={job.id}").status_code in (302, 401, 403)
    token = csrf_of(clients[role], "/login" if role == "anon" else "/review")
    assert clients[role].post("/rollback", data={"job": job.id, "csrf_token": token}).status_code in (302, 401, 403)
    assert Page.get().seo_title == "Oak chairs | Shop"


def test_an_admin_rolls_a_job_back_after_a_dry_run_that_counts_the_pages(clients):
    job = proposed_job(["Oak chairs | Shop", "Pine tables | Shop"])
    post(clients["admin"], "/review/all", {"verb": "approve", "job": job.id}, f"/review/all?verb=approve&job={job.id}")
    assert {p.seo_title for p in Page.select()} == {"Oak chairs | Shop", "Pine tables | Shop"}
    page = text(clients["admin"].get(f"/rollback?job={job.id}"))
    assert "2 pages change" in page and "Oak chairs | Shop" in page
    assert {p.seo_title for p in Page.select()} == {"Oak chairs | Shop", "Pine tables | Shop"}  # dry run
    response = post(clients["admin"], "/rollback", {"job": str(job.id)}, f"/rollback?job={job.id}")
    assert response.status_code == 302
    assert sorted(p.seo_title for p in Page.select()) == [f"Original {job.id}-0", f"Original {job.id}-1"]
    assert PageRevision.select().where(PageRevision.state == State.ROLLED_BACK).count() == 2
    # again: nothing is live from it any more, a one-line message and no change
    assert clients["admin"].get(f"/rollback?job={job.id}").status_code == 302  # nothing to confirm
    again = post(clients["admin"], "/rollback", {"job": str(job.id)})
    assert "already rolled back" in text(clients["admin"].get(again.headers["Location"]))
    assert again.status_code == 302
    assert PageRevision.select().where(PageRevision.state == State.ROLLED_BACK).count() == 2


def test_rollback_of_a_run_and_bad_targets(clients):
    proposed_job(["Oak chairs | Shop"], run="night-7")
    post(clients["admin"], "/review/all", {"verb": "approve"}, "/review/all?verb=approve")
    assert "1 page change" in text(clients["admin"].get("/rollback?run=night-7"))
    assert clients["admin"].get("/rollback").status_code == 400
    assert clients["admin"].get("/rollback?job=999999").status_code == 404
    assert clients["admin"].get("/rollback?run=nope").status_code == 404


def test_a_proposal_over_a_live_value_shows_both_as_results(clients):
    job = proposed_job(["Oak chairs | Shop"])
    post(clients["reviewer"], "/review/all", {"verb": "approve"}, "/review/all?verb=approve")
    live = PageRevision.get(PageRevision.state == State.PUBLISHED)
    PageRevision.create(page=live.page_id, job=job, title=LONG_TITLE, description="New.", state=State.PROPOSED,
                        source="generated", replaces_id=live.id)
    page = text(clients["viewer"].get("/review"))
    assert ids_on(page) == [PageRevision.get(PageRevision.state == State.PROPOSED).id]
    old = page.split('class="side old"')[1].split('class="side new"')[0]
    assert "Oak chairs | Shop" in old and old.count("data-profile=") == 2 and 'data-truncated=""' in old
    assert page.count('data-profile="desktop"') == 2
