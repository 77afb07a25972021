"""The per-message database connection survives a connection the server killed."""

from __future__ import annotations

import peewee
import pytest

from actors.middleware import DbConnections
from seobatch import db
from seobatch.models import SeoBatchJob


def test_a_connection_killed_mid_transaction_is_dropped_and_the_next_message_reconnects(pg_db):
    # Given a message whose connection the server terminates inside a transaction
    mw = DbConnections()
    mw.before_process_message(None, None)
    pid = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    killer = peewee.PostgresqlDatabase(None)
    killer.init(**db.database.obj.connect_params, database=db.database.obj.database)
    with pytest.raises(peewee.PeeweeException):
        with db.database.atomic():
            SeoBatchJob.create(status="collecting")
            killer.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
            SeoBatchJob.select().count()
    killer.close()
    # When the message ends (with its exception) and the next one starts
    mw.after_process_message(None, None, exception=RuntimeError("db gone"))
    mw.before_process_message(None, None)
    # Then the thread works on a fresh connection and nothing of the killed transaction stayed
    assert SeoBatchJob.select().count() == 0
    mw.after_process_message(None, None)
    assert db.database.is_closed()
