"""results: settling the items a batch never answered writes pages, so it takes the publish
lock (shared) as every results chunk does: a rollback holding it (exclusive) is never
interleaved with it. PostgreSQL only (SQLite serialises every writer anyway)."""

from __future__ import annotations

import threading

import psycopg2

from seobatch import db, revisions
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.results import results
from seobatch.stages.submit import submit

from tests.support.pages import make_pages
from tests.support.pipeline import FakeProvider
from tests.support.waiting import wait_for

#: A backend waiting for a lock, and which kind.
_WAITING = "SELECT locktype FROM pg_locks WHERE pid = %s AND NOT granted"


def _night(settings, provider) -> int:
    job_id = kickoff(settings=settings).job.id
    collect(job_id, settings=settings, provider=provider)
    submit(job_id, settings=settings, provider=provider)
    return job_id


def _in_thread(work, pids: list[int], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            pids.append(db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            db.database.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_missing_results_wait_for_a_rollback_that_holds_the_publish_lock(pg_db, settings):
    provider = FakeProvider()
    ids = [p.id for p in make_pages(6)]
    a = _night(settings, provider)
    results(a, settings=settings, provider=provider)
    # Job B takes pages 4-6 again; its batch answers none of them.
    Page.update(seo_content_hash=None).where(Page.id > ids[2]).execute()
    b = _night(settings, provider)
    for (custom_id,) in SeoBatchItem.select(SeoBatchItem.custom_id).where(SeoBatchItem.job == b).tuples():
        provider.outcomes[custom_id] = "missing"

    holder = psycopg2.connect(pg_db)  # holds page 1 (job A's alone): the rollback stops there
    try:
        holder.cursor().execute("SELECT id FROM seo_pages WHERE id = %s FOR UPDATE", (ids[0],))
        errors: list[BaseException] = []
        undo_pid: list[int] = []
        undo = _in_thread(lambda: revisions.rollback([a], by="ops"), undo_pid, errors)
        wait_for(lambda: undo_pid and db.database.execute_sql(_WAITING, (undo_pid[0],)).fetchone(),
                 timeout=30, what="the rollback waiting on page 1, the publish lock held")
        settle_pid: list[int] = []
        settle = _in_thread(lambda: results(b, settings=settings, provider=provider), settle_pid, errors)

        def settle_waits_or_ended():
            if not settle.is_alive():
                return "ended"
            row = settle_pid and db.database.execute_sql(_WAITING, (settle_pid[0],)).fetchone()
            return row and row[0]

        # Without the lock it would write B's pages (or wait on the rollback's row locks)
        # in the middle of the rollback; with it, it waits for the rollback as a whole.
        assert wait_for(settle_waits_or_ended, timeout=30, what="results of job B to wait or end") == "advisory"
        assert not errors
        assert Page.select().where(Page.seo_last_error.is_null(False)).count() == 0
        holder.commit()
    finally:
        holder.close()
    undo.join(30)
    settle.join(30)
    assert not undo.is_alive() and not settle.is_alive() and not errors
    assert SeoBatchJob.get_by_id(b).status == "completed"
    assert {s for (s,) in SeoBatchItem.select(SeoBatchItem.status).where(SeoBatchItem.job == b).tuples()} == {"errored"}
    for page in Page.select().order_by(Page.id):
        assert page.seo_title == page.title  # A rolled back to every page's original
        assert page.seo_last_error == ("missing_result" if page.id > ids[2] else None)
