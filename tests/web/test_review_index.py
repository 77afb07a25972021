"""The review queue's partial index (schema step 7): a database of version 6 gains it in
place, keeping every row, and a new database has it at once; on PostgreSQL and SQLite."""

from __future__ import annotations

from seobatch import db, schema
from seobatch.models import Page, PageRevision

INDEX = "seo_page_revisions_proposed"


def _indexes() -> set[str]:
    return {i.name for i in db.database.get_indexes(PageRevision._meta.table_name)}


def test_a_version_6_database_gains_the_review_index_and_keeps_its_rows(empty_url):
    db.configure(empty_url)
    assert schema.MIGRATIONS[7] is schema._v7_review_queue_index
    assert schema.init_db() == (0, schema.SCHEMA_VERSION)
    assert INDEX in _indexes()
    assert ("seo_page_revisions_proposed_checks" in _indexes()) == db.is_postgres()
    page = Page.create(url="https://shop.example/a", title="A", content="a")
    PageRevision.create(page=page, title="A", state="proposed", source="generated")
    db.database.execute_sql(f'DROP INDEX "{INDEX}"')  # our constant name: back to version 6
    db.database.execute_sql('DROP INDEX IF EXISTS "seo_page_revisions_proposed_checks"')
    schema.SchemaVersion.update(version=6).where(schema.SchemaVersion.version == 7).execute()
    assert schema.current_version() == 6 and INDEX not in _indexes()
    assert schema.init_db() == (6, schema.SCHEMA_VERSION)
    assert INDEX in _indexes() and PageRevision.select().count() == 1
    assert ("seo_page_revisions_proposed_checks" in _indexes()) == db.is_postgres()
    schema._v7_review_queue_index(db.database)  # again: harmless
    assert schema.init_db() == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)
