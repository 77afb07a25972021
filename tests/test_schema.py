"""The schema upgrades in place: a database made with version 1 (today's outbox without
its delivery record) becomes version 2 with every row kept, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import peewee
import pytest

from seobatch import db, outbox, schema
from seobatch.config import Settings
from seobatch.db import JSONField, StringField, utcnow
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob


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
    base_url = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    name = f"seobatch_v1_{uuid.uuid4().hex[:10]}"
    base = db.configure(base_url)
    base.execute_sql(f'CREATE SCHEMA "{name}"')  # our name, not input
    base.close()
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{name}"
    db.configure(url)
    try:
        yield url
    finally:
        db.database.close()
        base = db.configure(base_url)
        base.execute_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        base.close()


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


def test_a_fresh_database_gets_the_same_outbox_columns_as_an_upgraded_one(empty_db):
    assert schema.init_db() == (0, schema.SCHEMA_VERSION)
    assert _columns("seo_batch_events") == sorted(
        f.column_name for f in SeoBatchEvent._meta.sorted_fields)
