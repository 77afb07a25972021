"""The whole pipeline with an OpenAI model against the emulator, in-process.

The CLI run (``seobatch run --wait --model gpt-4o-mini``), then the fault suite's cases
that apply to OpenAI, stage by stage on SQLite and PostgreSQL: 429/5xx, a lost create
reply adopted by its metadata, an expired batch with partial results, a batch failed at
validation, and a cancel that goes through ``cancelling``.
"""

from __future__ import annotations

import pytest
import requests

from seobatch.cli import main
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.stages import Step
from seobatch.stages.cancel import cancel
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, drive, items_of, job, make_settings
from tests.support.shell import clear_operator_env, kept_root_logging

MODEL = "gpt-4o-mini"


def openai_files(emulator) -> list[dict]:
    resp = requests.get(f"{emulator.url}/v1/files", headers={"Authorization": "Bearer x"}, timeout=10)
    return resp.json()["data"]


@pytest.fixture
def shell(monkeypatch, sqlite_db, emulator):
    """An operator's shell: SQLite, the emulator as OpenAI, no Redis."""
    with kept_root_logging():
        clear_operator_env(monkeypatch)
        monkeypatch.setenv("DATABASE_URL", sqlite_db)
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", emulator.env()["OPENAI_BASE_URL"])
        monkeypatch.setenv("SEOBATCH_POLL_INTERVAL", "0")
        monkeypatch.setenv("SEOBATCH_POLL_MAX_INTERVAL", "1")
        yield emulator


def test_run_wait_with_an_openai_model_titles_every_page_and_deletes_the_files(shell, capsys):
    make_pages(6)
    assert main(["run", "--wait", "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "job 1 completed: 6 succeeded, 0 errored, 0 expired; cost $" in out
    row = SeoBatchJob.get()
    assert row.provider == "openai" and row.ai_batch_id.startswith("batch_")
    assert row.metadata["cost_usd"] > 0 and row.metadata["input_tokens"] > 0
    assert Page.select().where(Page.seo_title.is_null()).count() == 0
    assert Page.select().where(Page.seo_model == MODEL).count() == 6
    s = shell.stats()["openai"]
    assert (s["upload"], s["batches_created"], s["file_delete"]) == (1, 1, 2)  # input + output
    assert openai_files(shell) == []


@pytest.fixture
def settings(emulator):
    return make_settings(emulator, model=MODEL, openai_api_key=TEST_KEY, openai_base_url=f"{emulator.url}/v1")


def run_job(settings, pages: int = 6):
    make_pages(pages)
    j = kickoff(settings=settings).job
    drive([Step("collect", j.id)], settings)
    return job(j.id)


def test_a_lost_create_reply_is_adopted_by_its_metadata_and_paid_once(any_db, emulator, settings):
    emulator.set_faults(drop_create_response=1)
    row = run_job(settings)
    assert row.status == "completed" and row.succeeded_count == 6
    assert row.metadata["reconciled"] is True
    assert emulator.stats()["openai"]["batches_created"] == 1 and emulator.stats()["faults"]["dropped"] == 1


def test_429_and_5xx_are_survived_and_item_errors_keep_their_reason(any_db, emulator, settings):
    emulator.set_faults(http_errors={"openai.create": [429], "openai.get": [503, 500], "openai.download": [502]},
                        error_rate=0.5)
    row = run_job(settings)
    assert row.status == "completed" and (row.succeeded_count, row.errored_count) == (3, 3)
    errors = {i.error for i in items_of(row.id) if i.status == "errored"}
    assert errors == {
        "server_error (HTTP 500): The server had an error while processing your request. Sorry about that!"}
    assert emulator.stats()["openai"]["batches_created"] == 1


def test_an_expired_batch_saves_its_finished_half(any_db, emulator, settings):
    emulator.set_faults(batch_outcome="expire")
    row = run_job(settings, pages=8)
    assert row.status == "completed" and (row.succeeded_count, row.expired_count) == (4, 4)
    assert {i.error for i in items_of(row.id) if i.status == "expired"} == {"batch_expired"}
    assert Page.select().where(Page.seo_title.is_null(False)).count() == 4
    assert Page.select().where(Page.seo_attempts > 0).count() == 0  # expiry is not the pages' fault


def test_a_batch_failed_at_validation_fails_the_job_with_its_reason(any_db, emulator, settings):
    emulator.set_faults(batch_outcome="fail")
    row = run_job(settings)
    assert row.status == "failed"
    assert "token_limit_exceeded: Enqueued token limit" in row.metadata["error"]
    assert openai_files(emulator) == []  # its input file went too


def test_a_cancel_waits_through_cancelling_and_keeps_what_finished(any_db, emulator, settings):
    from seobatch.stages.collect import collect
    from seobatch.stages.poll import poll
    from seobatch.stages.submit import submit

    emulator.set_faults(processing_seconds=4.0)
    make_pages(10)
    j = kickoff(settings=settings).job
    collect(j.id, settings=settings)
    submit(j.id, settings=settings)
    assert job(j.id).status == "processing"
    emulator.advance(2.0)
    canceled = cancel(j.id, settings=settings)
    assert poll(j.id, settings=settings) == [Step("poll", j.id, delay_ms=0)]  # cancelling: not ended
    assert job(j.id).status == "processing" and job(j.id).metadata["provider_state"] == "cancelling"
    emulator.advance(2.0)
    drive(canceled.steps, settings)
    row = job(j.id)
    assert row.status == "completed" and row.succeeded_count > 0
    assert row.succeeded_count + row.metadata["canceled_count"] == 10
    assert row.metadata["ending"] == "canceled"
    assert SeoBatchItem.select().where(SeoBatchItem.status == "pending").count() == 0
