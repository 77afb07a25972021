"""Every page and every permission, on PostgreSQL and SQLite (Flask's test client)."""

from __future__ import annotations

import re

import pytest

from seobatch import db
from seobatch.jobmeta import ItemStatus, JobStatus
from seobatch.models import SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.pricing import batch_cost
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.submit import submit
from seobatch.web import queries
from seobatch.web.app import create_app
from seobatch.web.security import CSP

from tests.support.pages import make_pages
from tests.support.pipeline import make_settings
from tests.web.conftest import WEB_SECRET, csrf_of, sign_in
from tests.web.seed import LONG_TITLE, MODEL, collecting_job, completed_job
from tests.web.widths import half_em


def text(response) -> str:
    return response.get_data(as_text=True)


def test_security_headers_are_on_every_response(clients):
    for client, path in ((clients["anon"], "/login"), (clients["viewer"], "/runs"),
                         (clients["viewer"], "/nowhere"), (clients["viewer"], "/static/app.css"),
                         (clients["anon"], "/runs")):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == CSP, path
        assert "default-src 'self'" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert clients["viewer"].get("/runs").headers["Cache-Control"] == "no-store"


def test_no_page_has_inline_script_or_style(clients):
    completed_job(succeeded=2, errored=1)
    job = SeoBatchJob.select().first()
    for path in ("/login", "/runs", f"/jobs/{job.id}", "/preview?title=x", f"/jobs/{job.id}/cancel"):
        body = text(clients["admin"].get(path, follow_redirects=True))
        assert "<script" not in body and "<style" not in body and " style=" not in body, path
        assert not re.search(r"\son[a-z]+=", body), path


def test_runs_lists_jobs_with_costs_and_turnaround_and_pages_by_keyset(clients):
    jobs = [completed_job(succeeded=2, run=f"run{i}") for i in range(queries.PAGE_SIZE + 5)]
    failed = collecting_job()
    SeoBatchJob.update(status=JobStatus.FAILED, metadata={"error": "spend limit reached"}).where(
        SeoBatchJob.id == failed.id).execute()
    body = text(clients["viewer"].get("/runs"))
    shown = [int(x) for x in re.findall(r'<tr data-job="(\d+)">', body)]
    newest = [failed.id] + [j.id for j in reversed(jobs)]
    assert shown == newest[: queries.PAGE_SIZE]
    assert "$0.0045" in body  # 2,000 + 200 tokens at batch prices, as the job recorded
    assert "$0.0090" in body  # the same tokens at interactive prices (3/15 USD per Mtok)
    assert "30m00s" in body  # submitted → completed
    assert 'title="spend limit reached"' in body
    older = re.search(r'rel="next" href="([^"]+)"', body).group(1).replace("&amp;", "&")
    assert older == f"/runs?before={shown[-1]}"
    rest = text(clients["viewer"].get(older))
    assert [int(x) for x in re.findall(r'<tr data-job="(\d+)">', rest)] == newest[queries.PAGE_SIZE:]
    assert 'rel="next"' not in rest


def test_the_keyset_page_is_one_query_whatever_its_size(web_db):
    for i in range(6):
        completed_job(succeeded=1, run=f"q{i}")
    statements = []
    original = db.database.obj.execute_sql

    def counting(sql, *args, **kwargs):
        statements.append(sql)
        return original(sql, *args, **kwargs)

    db.database.obj.execute_sql = counting
    try:
        page = queries.jobs_page(limit=5)
    finally:
        del db.database.obj.execute_sql
    assert len(page.rows) == 5 and page.next_cursor == page.rows[-1]["id"]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_the_chart_has_a_bar_per_night_and_the_nights_add_up(clients):
    completed_job(succeeded=3, days_ago=0)
    completed_job(succeeded=2, days_ago=0)
    completed_job(succeeded=4, days_ago=3)
    completed_job(succeeded=9, days_ago=40)  # outside the 30 nights
    nights = queries.nightly()
    assert len(nights) == queries.NIGHTS
    assert nights[-1]["pages"] == 5 and nights[-1]["jobs"] == 2
    assert nights[-4]["pages"] == 4
    assert sum(n["pages"] for n in nights) == 9
    assert nights[-1]["cost_usd"] == pytest.approx(batch_cost(MODEL, 5000, 500))
    assert nights[-1]["interactive_usd"] == pytest.approx(2 * nights[-1]["cost_usd"])
    body = text(clients["viewer"].get("/runs"))
    assert body.count('class="bar"') == queries.NIGHTS
    assert "5 pages written, 2 jobs" in body


def test_one_job_shows_items_grouped_errors_costs_events_and_result_previews(clients):
    job = completed_job(succeeded=2, errored=3, meta={"prompt_version": "v7"})
    SeoBatchEvent.create(job=job, name="job_completed", payload={})
    body = text(clients["viewer"].get(f"/jobs/{job.id}"))
    assert f"Job {job.id}" in body and "status-completed" in body
    # three "title is N characters" reasons are one problem
    assert re.search(r'<td class="n">3</td><td class="bad">invalid_output: title is N characters, needs N-N</td>', body)
    assert "Errors (3 items, 1 reasons)" in body
    assert "cost-batch" in body and "cost-interactive" in body and "saved" in body
    assert "v7" in body and "job_completed" in body and "not delivered yet" in body
    # each result as a desktop and a mobile search result, cut on the server
    assert body.count('data-profile="desktop"') == 2 and body.count('data-profile="mobile"') == 2
    assert 'data-truncated="title"' in body
    shown = "Discover Running Shoes for Every Kind of Runner: Everything…"  # half_em: ≤ 59 characters + "…"
    assert LONG_TITLE.startswith(shown[:-1] + " ")
    assert f'<span class="line">{shown}</span>' in body


def test_one_job_counts_every_item_status_a_job_can_leave(clients):
    # A job that failed leaves its unanswered items "failed" (jobstate.fail_job)
    job = completed_job(succeeded=1, errored=1)
    SeoBatchItem.update(status=ItemStatus.FAILED).where(
        (SeoBatchItem.job == job) & (SeoBatchItem.status == ItemStatus.ERRORED)).execute()
    body = text(clients["viewer"].get(f"/jobs/{job.id}"))
    assert re.search(r'<tr><th>failed</th><td class="n">1</td><td class="n">50.0%</td></tr>', body)
    assert re.search(r'<tr><th>succeeded</th><td class="n">1</td>', body)


def test_the_results_of_a_job_page_by_keyset(clients):
    job = completed_job(succeeded=queries.PAGE_SIZE + 2)
    body = text(clients["viewer"].get(f"/jobs/{job.id}"))
    items = [int(x) for x in re.findall(r'data-item="(\d+)"', body)]
    assert len(items) == queries.PAGE_SIZE and items == sorted(items)
    nxt = re.search(r'rel="next" href="([^"]+)"', body).group(1)
    rest = [int(x) for x in re.findall(r'data-item="(\d+)"', text(clients["viewer"].get(nxt)))]
    assert len(rest) == 2 and rest[0] > items[-1]


def test_an_unknown_job_is_404_without_internals(clients):
    response = clients["viewer"].get("/jobs/424242")
    assert response.status_code == 404 and "Not found" in text(response)
    assert clients["admin"].get("/jobs/424242/cancel").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_only_admins_may_cancel(clients, role):
    job = collecting_job()
    client = clients[role]
    assert client.get(f"/jobs/{job.id}/cancel").status_code == 403
    token = csrf_of(client, "/runs")
    response = client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 403 and "Not allowed" in text(response)
    assert SeoBatchJob.get_by_id(job.id).status == JobStatus.COLLECTING
    assert "Cancel job" not in text(client.get(f"/jobs/{job.id}"))


def test_an_admin_cancels_a_job_after_a_confirmation_and_the_reason_names_them(clients):
    job = collecting_job()
    admin = clients["admin"]
    assert "Cancel job…" in text(admin.get(f"/jobs/{job.id}"))
    confirm = text(admin.get(f"/jobs/{job.id}/cancel"))
    assert "not submitted yet" in confirm and 'method="post"' in confirm
    token = csrf_of(admin, f"/jobs/{job.id}/cancel")
    response = admin.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200 and "canceled before submission" in text(response)
    row = SeoBatchJob.get_by_id(job.id)
    assert row.status == JobStatus.FAILED
    assert row.metadata["error"] == "canceled by operator admin (web)"
    event = SeoBatchEvent.get((SeoBatchEvent.job == job.id) & (SeoBatchEvent.name == "job_failed"))
    assert event.payload["error"] == "canceled by operator admin (web)"
    # a second cancel explains itself and changes nothing
    again = admin.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "already failed; there is nothing to cancel" in text(again)
    assert "already failed" in text(admin.get(f"/jobs/{job.id}/cancel", follow_redirects=True))
    assert SeoBatchJob.get_by_id(job.id).metadata["error"] == "canceled by operator admin (web)"


def test_the_preview_tool_cuts_a_long_title_on_the_server(clients):
    title = "W" * 30 + " " + "a" * 40
    body = text(clients["viewer"].get("/preview", query_string={"title": title, "description": "short"}))
    assert 'data-profile="desktop" data-truncated="title"' in body
    assert f'<span class="line">{"W" * 30}…</span>' in body  # cut at the word
    assert "a" * 40 in body  # what the cut hides is shown as such
    assert 'data-profile="mobile" data-truncated=""' in body  # two mobile lines hold it


def test_healthz_answers_without_a_sign_in(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_data() == b"ok\n"


def test_home_goes_to_runs(clients):
    assert clients["viewer"].get("/").headers["Location"] == "/runs"


def test_an_admin_cancels_a_submitted_job_its_batch_is_canceled_and_the_poll_is_sent(web_db, users, emulator):
    emulator.set_faults(processing_seconds=3600)
    settings = make_settings(emulator, database_url=web_db)
    make_pages(3)
    job = kickoff(settings=settings).job
    collect(job.id, settings=settings)
    submit(job.id, settings=settings)
    job = SeoBatchJob.get_by_id(job.id)
    sent: list[list[Step]] = []
    app = create_app(settings, secret_key=WEB_SECRET, width_fn=half_em, send_steps=sent.append)
    admin = app.test_client()
    sign_in(admin, "admin")
    assert f"Its provider batch {job.ai_batch_id} is canceled" in text(admin.get(f"/jobs/{job.id}/cancel"))
    token = csrf_of(admin, f"/jobs/{job.id}/cancel")
    response = admin.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "cancel of batch" in text(response)
    row = SeoBatchJob.get_by_id(job.id)
    assert row.status == JobStatus.PROCESSING and row.metadata["cancel_requested"]
    assert row.metadata["cancel_requested_by"] == "admin (web)"
    assert sent == [[Step("poll", job.id)]]
    assert emulator.stats()["anthropic"]["cancel"] == 1


def test_the_jobs_of_a_split_run_add_up_to_one_run(clients):
    first = completed_job(succeeded=2, errored=1, run="split")
    second = completed_job(succeeded=3, run="split")
    alone = completed_job(succeeded=1, run="other")
    rows = queries.jobs_page().rows
    runs = {r["run"]: r for r in queries.runs_of(rows)}
    assert runs["split"]["jobs"] == [second.id, first.id] and runs["other"]["jobs"] == [alone.id]
    assert (runs["split"]["pages"], runs["split"]["succeeded"], runs["split"]["errored"]) == (6, 5, 1)
    assert runs["split"]["cost_usd"] == pytest.approx(batch_cost(MODEL, 6000, 600))
    assert runs["split"]["statuses"] == {"completed": 2}
    body = text(clients["viewer"].get("/runs"))
    assert '<tr data-run="split">' in body and "×2" in body


def test_a_method_a_page_does_not_take_is_a_405_page(clients):
    token = csrf_of(clients["viewer"], "/runs")
    response = clients["viewer"].post("/runs", data={"csrf_token": token})
    assert response.status_code == 405 and "does not accept" in text(response)
