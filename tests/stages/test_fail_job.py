"""fail_job: the one way a job fails, and its reason never carries a secret."""

from __future__ import annotations

from pipeline_support import TEST_KEY, job, make_pages

from seobatch.models import SeoBatchEvent
from seobatch.stages.jobstate import fail_job
from seobatch.stages.kickoff import kickoff


def test_a_stage_failing_a_job_redacts_the_keys_from_its_reason(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    assert fail_job(j, f"the provider's batch failed: bad key {TEST_KEY} / sk-ant-abcdefgh123", settings=settings)
    error = job(j.id).metadata["error"]
    assert TEST_KEY not in error and "sk-ant-abcdefgh123" not in error and "[REDACTED]" in error
    event = SeoBatchEvent.select().where(SeoBatchEvent.name == "job_failed").get()
    assert TEST_KEY not in str(event.payload)


def test_key_shaped_strings_are_redacted_even_without_settings(any_db, settings):
    make_pages(1)
    j = kickoff(settings=settings).job
    assert fail_job(j.id, "boom AIzaSyA1234567890abcdef")
    assert "AIzaSy" not in job(j.id).metadata["error"]
    assert fail_job(j.id, "again") is False  # already failed: once
