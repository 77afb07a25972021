"""The schema upgrades in place, every row kept, on SQLite and PostgreSQL: a database made
with version 1 (the outbox without its delivery record) and one made by version 2's code
(``tests/data/schema_v2_demo.sql``: ``seobatch demo --db`` at the commit that shipped
version 2, dumped with sqlite3's ``iterdump``) both reach the current version (5: revisions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from seobatch import db, outbox, revisions, schema
from seobatch.config import Settings
from seobatch.db import JSONField, StringField, utcnow
from seobatch.models import Page, PageRevision, SeoBatchEvent, SeoBatchItem, SeoBatchJob
from seobatch.revisions import Source, State

from tests.support.services import pg_schema


class V1Event(peewee.Model):
    """``seo_batch_events`` exactly as schema version 1 made it."""

    id = peewee.BigAutoField()
    job = peewee.ForeignKeyField(SeoBatchJob, on_delete="CASCADE", column_name="job_id")
    name = StringField()
    payload = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)
    claimed_until = peewee.DateTimeField(null=True)
    published_at = peewee.DateTimeField(null=True)

    class Meta:
        database = db.database
        table_name = "seo_batch_events"
        indexes = ((("job", "name"), True),)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request, tmp_path) -> Iterator[str]:
    """A database with no tables at all (a PostgreSQL schema of the test's own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'v1.db'}"
        db.configure(url)
        yield url
        db.database.close()
        return
    request.getfixturevalue("pg_url")  # skips (or fails under CI) without PostgreSQL
    with pg_schema("seobatch_v1") as url:
        db.configure(url)
        try:
            yield url
        finally:
            db.database.close()


def _columns(table: str) -> list[str]:
    cursor = db.database.execute_sql(f'SELECT * FROM "{table}" LIMIT 0')  # our table name
    return sorted(c[0] for c in cursor.description)


def test_a_version_1_database_is_upgraded_in_place_keeping_every_row(empty_db):
    # Given a database made with schema version 1, holding pages, a job, items and events
    db.database.create_tables([schema.SchemaVersion, Page, SeoBatchJob, SeoBatchItem, V1Event])
    schema.SchemaVersion.create(version=1)
    page = Page.create(url="https://example.com/a", title="A", content="text")
    job = SeoBatchJob.create(status="completed", metadata={"cost_usd": 0.5})
    SeoBatchItem.create(job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id))
    published = utcnow()
    V1Event.create(job=job, name="job_submitted", payload={"job_id": job.id}, published_at=published)
    V1Event.create(job=job, name="job_completed", payload={"job_id": job.id, "cost_usd": 0.5},
                   created_at=utcnow().replace(year=2020))
    db.database.execute_sql('ALTER TABLE "seo_pages" DROP COLUMN "seo_locked"')  # version 3's column
    assert "attempts" not in _columns("seo_batch_events")
    # When `db init` runs
    assert schema.init_db() == (1, schema.SCHEMA_VERSION)
    # Then the outbox has the version 2 columns and every row is as it was
    assert schema.current_version() == schema.SCHEMA_VERSION
    fresh = {"attempts", "delivered_to", "last_error", "next_attempt_at", "failed_at"}
    assert fresh <= set(_columns("seo_batch_events"))
    assert Page.select().count() == 1 and SeoBatchItem.select().count() == 1
    assert SeoBatchJob.get_by_id(job.id).metadata == {"cost_usd": 0.5}
    rows = list(SeoBatchEvent.select().order_by(SeoBatchEvent.id))
    assert [(e.name, e.payload["job_id"], e.attempts, e.delivered_to, e.failed_at) for e in rows] == [
        ("job_submitted", job.id, 0, None, None), ("job_completed", job.id, 0, None, None)]
    assert rows[0].published_at == published and rows[1].published_at is None
    # And the old undelivered event is delivered through the upgraded table; init is idempotent
    assert outbox.deliver_pending(settings=Settings()) == 1
    assert SeoBatchEvent.get_by_id(rows[1].id).delivered_to == []
    assert schema.init_db() == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)


def test_a_fresh_database_gets_the_same_columns_as_an_upgraded_one(empty_db):
    assert schema.init_db() == (0, schema.SCHEMA_VERSION)
    for model in (SeoBatchEvent, Page, PageRevision):
        assert _columns(model._meta.table_name) == sorted(f.column_name for f in model._meta.sorted_fields)


DUMP = Path(__file__).parent / "data" / "schema_v2_demo.sql"
#: Parents first: PostgreSQL checks the foreign keys as the rows arrive.
_TABLE_ORDER = ("seobatch_schema", "seo_pages", "seo_batch_jobs", "seo_batch_items", "seo_batch_events")


def _load_v2_dump() -> None:
    """The version 2 database the demo made: as dumped on SQLite; on PostgreSQL, version 2's
    tables (today's models less the columns and indexes of versions 3, 5 and 6) and the dump's rows."""
    text = DUMP.read_text(encoding="utf-8")
    if not db.is_postgres():
        conn = db.database.connection()
        conn.execute("PRAGMA foreign_keys = OFF")  # the dump's tables come in name order
        conn.executescript(text)
        conn.execute("PRAGMA foreign_keys = ON")
        return
    db.database.create_tables([schema.SchemaVersion, Page, SeoBatchJob, SeoBatchItem, SeoBatchEvent])
    db.database.execute_sql('ALTER TABLE "seo_pages" DROP COLUMN "h1"')  # version 3's
    db.database.execute_sql('ALTER TABLE "seo_pages" DROP COLUMN "seo_locked"')  # version 5's
    for table, column, *_ in schema._QUALITY_COLUMNS_V6:  # version 6's
        db.database.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    db.database.execute_sql('DROP INDEX "seo_batch_events_one_per_transition"')
    db.database.execute_sql('CREATE UNIQUE INDEX "seobatchevent_job_id_name" ON "seo_batch_events" ("job_id", "name")')
    inserts = [line for line in text.splitlines() if line.startswith("INSERT INTO ")]
    with db.database.atomic():
        for table in _TABLE_ORDER:
            for line in inserts:
                if line.startswith(f'INSERT INTO "{table}" '):
                    db.database.execute_sql(line.replace("%", "%%"))  # the dump's own statements
    for table in ("seo_pages", "seo_batch_jobs", "seo_batch_items", "seo_batch_events"):
        db.database.execute_sql(  # the dump's explicit ids: move the sequences past them
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM \"{table}\"))")


def _snapshot() -> dict[str, list[tuple]]:
    return {
        "pages": list(Page.select(Page.id, Page.url, Page.title, Page.seo_title, Page.seo_description,
                                  Page.seo_model, Page.seo_content_hash).order_by(Page.id).tuples()),
        "jobs": list(SeoBatchJob.select(SeoBatchJob.id, SeoBatchJob.status, SeoBatchJob.metadata)
                     .order_by(SeoBatchJob.id).tuples()),
        "items": list(SeoBatchItem.select(SeoBatchItem.id, SeoBatchItem.status, SeoBatchItem.result)
                      .order_by(SeoBatchItem.id).tuples()),
        "events": list(SeoBatchEvent.select(SeoBatchEvent.id, SeoBatchEvent.name, SeoBatchEvent.payload)
                       .order_by(SeoBatchEvent.id).tuples()),
    }


def test_the_demo_database_of_version_2_is_upgraded_keeping_every_row_and_back_filling_revisions(empty_db):
    # Given the database `seobatch demo` made with version 2, and a page never generated
    _load_v2_dump()
    assert schema.current_version() == 2
    db.database.execute_sql(
        "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, created_at, updated_at) "
        "VALUES ('https://example.com/new', 'New page', 'text', 'h', 0, '2026-01-01', '2026-01-01')")
    before = _snapshot()
    generated = sum(1 for page in before["pages"] if page[3] is not None)
    assert len(before["pages"]) == 37 and generated == 36 and len(before["events"]) == 2
    # When `db init` runs
    assert schema.init_db() == (2, schema.SCHEMA_VERSION)
    # Then no row changed, and every page is unlocked
    assert _snapshot() == before
    assert Page.select().where(Page.seo_locked).count() == 0
    # And each page has its original (the import's title); each generated one its published
    # revision, equal to its live fields and made by the job whose item succeeded on it
    r = PageRevision
    originals = {row.page_id: row for row in r.select().where(r.source == Source.ORIGINAL)}
    assert {pid: o.title for pid, o in originals.items()} == {p[0]: p[2] for p in before["pages"]}
    assert all(o.state == State.SUPERSEDED for o in originals.values())
    published = list(r.select().where(r.state == State.PUBLISHED))
    assert len(published) == generated
    job_id = before["jobs"][0][0]
    for rev in published:
        page = Page.get_by_id(rev.page_id)
        assert (rev.title, rev.description, rev.model) == (page.seo_title, page.seo_description, page.seo_model)
        assert rev.replaces_id == originals[rev.page_id].id and rev.job_id == job_id
        item = SeoBatchItem.get_by_id(rev.item_id)
        assert item.page_id == rev.page_id and item.result["title"] == page.seo_title
    # And the upgraded database works: a rollback of the demo's job restores the originals
    plan = revisions.rollback([job_id], by="test")
    assert plan.pages == generated and plan.to_original == generated
    page = Page.get(Page.url == before["pages"][0][1])
    assert (page.seo_title, page.seo_description) == (before["pages"][0][2], None)
    # And a page event may follow the job's events for the same job; init is idempotent
    assert SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_rolled_back").count() == 1
    assert schema.init_db() == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)
