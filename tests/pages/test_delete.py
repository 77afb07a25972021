"""Deleting the pages that left the site (finding 27): by list, by the site file, by an import's prune;
pages that an active job holds are kept."""

from __future__ import annotations

from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.pages.delete import delete_missing, delete_pages
from seobatch.pages.importing import import_pages
from seobatch.pages.keys import url_keys

from tests.support.pages import make_pages, seed_site, write_jsonl
from tests.support.pipeline import drive, make_settings


def hold_in_job(page: Page, status: str) -> SeoBatchJob:
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status=status)
    SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id))
    return job


def test_delete_by_url_keeps_pages_an_active_job_holds(any_db):
    site = seed_site()
    active = hold_in_job(site[1], "processing")
    hold_in_job(site[2], "completed")
    summary = delete_pages(
        ["https://example.com/0", "https://example.com/1", "HTTPS://EXAMPLE.com/2#x", "https://example.com/nope"]
    )
    assert (summary.deleted, summary.busy, summary.not_found) == (2, 1, 1)
    assert summary.describe() == (
        "deleted 2 pages; kept 1 page that active jobs hold (run it again once they have ended); "
        "1 listed url(s) match no page"
    )
    assert sorted(p.url for p in Page.select()) == [f"https://example.com/{i}" for i in (1, 3, 4, 5)]
    # The active job keeps its item; the finished job's item went with its page
    assert [i.job_id for i in SeoBatchItem.select()] == [active.id]


def test_delete_missing_removes_the_pages_not_on_the_site_in_bulk(queries):
    site = seed_site(2500)
    hold_in_job(site[2401], "collecting")  # an odd page: not on the site, but held
    keep = url_keys(f"https://example.com/{i}" for i in range(0, 2500, 2))  # the even pages stay
    queries.clear()
    summary = delete_missing(keep, chunk_size=1000)
    # Per chunk of 1000: read the chunk, the active jobs, their items among it, one DELETE
    # (and the collectors' advisory lock on PostgreSQL); never a statement per page
    data = [q for q in queries if "pg_advisory_xact_lock" not in q]
    assert len(data) == 3 * 4 and sum(q.startswith("DELETE") for q in data) == 3, "\n".join(data)
    assert (summary.deleted, summary.busy) == (1249, 1)
    assert Page.select().count() == 1251


def test_a_dry_run_counts_and_deletes_nothing(any_db):
    seed_site(4)
    summary = delete_missing(url_keys(["https://example.com/0"]), dry_run=True)
    assert summary.describe() == "would delete 3 pages" and Page.select().count() == 4


def test_import_prune_deletes_the_pages_not_in_the_file(any_db, tmp_path):
    seed_site(4)
    hold_in_job(Page.get(Page.url == "https://example.com/3"), "submitting")
    path = write_jsonl(tmp_path / "site.jsonl", [{"url": "https://example.com/0"}, {"url": "https://example.com/9"},
                                                 {"url": "https://example.com/0"}])
    summary = import_pages(str(path), prune=True)
    assert summary.pruned is not None and (summary.pruned.deleted, summary.pruned.busy) == (2, 1)
    assert sorted(p.url for p in Page.select()) == [
        "https://example.com/0", "https://example.com/3", "https://example.com/9"]
    assert summary.describe().endswith(
        "; prune: deleted 2 pages; kept 1 page that active jobs hold (run it again once they have ended)")


def test_import_prune_deletes_nothing_when_a_row_was_rejected(any_db, tmp_path):
    seed_site(3)
    path = tmp_path / "site.jsonl"
    path.write_text('{"url": "https://example.com/0"}\n{"url": "https://example.com/1", \n', encoding="utf-8")
    summary = import_pages(str(path), prune=True)
    assert summary.pruned is None and Page.select().count() == 3
    assert "prune: nothing deleted, 1 rejected row(s) may be pages still on the site" in summary.describe()


def test_deleting_the_pages_of_a_running_job_keeps_them_and_the_job_ends_whole(any_db, emulator):
    # Given a job that holds 10 pages at the provider

    from seobatch.stages import Step
    from seobatch.stages.collect import collect
    from seobatch.stages.kickoff import kickoff
    from seobatch.stages.submit import submit

    settings = make_settings(emulator)
    site = make_pages(10)
    running = kickoff(settings=settings).job
    assert collect(running.id, settings=settings) == [Step("submit", running.id)]
    steps = submit(running.id, settings=settings)
    assert SeoBatchJob.get_by_id(running.id).status == "processing"
    # When the site file no longer has them
    summary = delete_pages(p.url for p in site)
    # Then none is deleted while the job runs, and the job ends with all ten
    assert (summary.deleted, summary.busy) == (0, 10)
    drive(steps, settings)
    done = SeoBatchJob.get_by_id(running.id)
    assert (done.status, done.succeeded_count) == ("completed", 10)
    # And once it has ended they can go
    assert delete_pages(p.url for p in site).deleted == 10
    assert Page.select().count() == 0 and SeoBatchItem.select().count() == 0
