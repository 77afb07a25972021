"""Schema version 4 adds ``seo_web_users``: from a database of the version before
(every other table, stamped 3; later steps run after it) and from
nothing, on PostgreSQL and SQLite, without touching a row of the other tables."""

from __future__ import annotations

from seobatch import db, schema
from seobatch.models import MODELS, Page, SeoBatchJob
from seobatch.users import WebUser
from seobatch.web.auth import add_user, authenticate

WEB_VERSION = 4  # the users step; revisions (5) came after it
BEFORE = WEB_VERSION - 1


def _before(url: str) -> None:
    """What the version before made: the pipeline's tables, stamped ``BEFORE``, with rows."""
    db.configure(url)
    with db.database.atomic():
        db.database.create_tables([schema.SchemaVersion, *MODELS])
        schema.SchemaVersion.create(version=BEFORE)
        Page.create(url="https://shop.example/a", title="A", content="a", seo_title="Old A title")
        SeoBatchJob.create(model="claude-sonnet-4-5", status="completed", metadata={"run": "r1"})



def test_a_database_of_the_version_before_gains_the_users_table_and_keeps_every_row(empty_url):
    assert schema.MIGRATIONS[WEB_VERSION] is schema._v4_web_users
    _before(empty_url)
    assert not db.database.table_exists("seo_web_users")
    assert schema.init_db() == (BEFORE, schema.SCHEMA_VERSION)
    assert db.database.table_exists("seo_web_users")
    assert schema.current_version() == schema.SCHEMA_VERSION
    assert Page.get().seo_title == "Old A title" and SeoBatchJob.get().metadata == {"run": "r1"}
    add_user("alice", "a long enough password", "admin")
    assert authenticate("alice", "a long enough password") is not None
    assert schema.init_db() == (schema.SCHEMA_VERSION, schema.SCHEMA_VERSION)  # twice is a no-op
    assert WebUser.select().count() == 1


def test_the_migration_step_runs_again_harmlessly(empty_url):
    """Its own function (the integrator may renumber it): safe on a database that has the table."""
    db.configure(empty_url)
    schema.init_db()
    WebUser.create(name="bob", role="viewer", password_hash="pbkdf2:sha256:1$x$y")
    schema._v4_web_users(db.database)
    assert WebUser.select().count() == 1


def test_a_new_database_gets_the_users_table_at_once(empty_url):
    db.configure(empty_url)
    assert schema.init_db() == (0, schema.SCHEMA_VERSION)
    assert db.database.table_exists("seo_web_users")
    name_index = [i for i in db.database.get_indexes("seo_web_users") if i.columns == ["name"]]
    assert name_index and name_index[0].unique
