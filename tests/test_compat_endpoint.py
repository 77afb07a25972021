"""An OpenAI-compatible batch service (SEOBATCH_COMPAT_ENDPOINTS) against the emulator
switched to behave like one: no ``metadata``, no ``response_format``."""

from __future__ import annotations

import json

import pytest

from seobatch.config import Settings
from seobatch.errors import ConfigError, PermanentError
from seobatch.models import Page, SeoBatchJob
from seobatch.providers import get_provider, provider_name
from seobatch.providers.base import Prompt
from seobatch.routing import accepted_models, provider_for_model
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff

from tests.support.pages import make_pages
from tests.support.pipeline import TEST_KEY, drive, items_of, job, make_settings

MODEL = "selfhost-llama-3.3-70b"


def compat_settings(emulator, options="metadata=no response_format=no"):
    env = {"SEOBATCH_COMPAT_ENDPOINTS": f"selfhost-={emulator.url}/v1 key=LLAMA_KEY {options}", "LLAMA_KEY": TEST_KEY}
    endpoints = Settings.from_env(env).compat_endpoints
    return make_settings(emulator, model=MODEL, compat_endpoints=endpoints)


def test_a_compatible_endpoint_without_metadata_or_response_format_titles_every_page(any_db, emulator):
    emulator.set_faults(openai_no_metadata=True, openai_no_response_format=True)
    settings = compat_settings(emulator)
    make_pages(4)
    first = kickoff(settings=settings).job
    steps = collect(first.id, settings=settings)
    # What is sent (read before the results stage drops the request bodies it settles)
    body = json.dumps(items_of(first.id)[0].request)
    assert "response_format" not in body and "JSON object" in body  # the prompt asks for it instead
    drive(steps, settings)
    done = job(first.id)
    assert done.status == "completed" and done.succeeded_count == 4, done.metadata
    assert done.provider == "openai"
    assert Page.select().where(Page.seo_model == MODEL).count() == 4


def test_the_plain_openai_dialect_is_refused_by_such_an_endpoint(emulator):
    """Why the switches exist: the emulator really refuses what such a service refuses."""
    emulator.set_faults(openai_no_metadata=True)
    client = get_provider(MODEL, compat_settings(emulator, "metadata=yes"))
    req = client.build_request("j1p1", Prompt("sys", "user"), model=MODEL, max_tokens=50)
    with pytest.raises(PermanentError, match="metadata"):
        client.create_batch([req], model=MODEL, display_name="seobatch-x")


def test_routing_names_the_compatible_prefixes_and_bad_entries_are_refused(emulator):
    settings = compat_settings(emulator)
    assert provider_name(MODEL, settings) == "openai"
    with pytest.raises(ConfigError, match=r"selfhost-\* \(OpenAI-compatible\)"):
        provider_name("mistral-large", settings)
    with pytest.raises(ConfigError, match="overlaps"):
        Settings.from_env({"SEOBATCH_COMPAT_ENDPOINTS": "gpt-oss=http://x/v1 key=K"})
    with pytest.raises(ConfigError, match="key=VAR"):
        Settings.from_env({"SEOBATCH_COMPAT_ENDPOINTS": "selfhost-=http://x/v1"})
    with pytest.raises(ConfigError, match="unknown option"):
        Settings.from_env({"SEOBATCH_COMPAT_ENDPOINTS": "selfhost-=http://x/v1 key=K batch=yes"})
    unset = Settings.from_env({"SEOBATCH_COMPAT_ENDPOINTS": "selfhost-=http://x/v1 key=LLAMA_KEY"})
    with pytest.raises(ConfigError, match="LLAMA_KEY is not set"):
        kickoff(settings=make_settings(emulator, compat_endpoints=unset.compat_endpoints), model=MODEL)
    assert TEST_KEY in settings.secrets() and TEST_KEY not in repr(settings)


def test_two_configurations_in_one_process_do_not_see_each_others_prefixes(any_db, emulator):
    """The prefixes are the settings' own: one configuration routing selfhost-* teaches
    the process nothing, so another one still refuses the model."""
    settings = compat_settings(emulator)
    assert provider_name(MODEL, settings) == "openai"
    kickoff(settings=settings)  # a job of the compatible model exists in this process
    plain = make_settings(emulator)
    with pytest.raises(ConfigError, match="unknown model") as refused:
        provider_name(MODEL, plain)
    assert "selfhost-* (OpenAI-compatible)" not in str(refused.value)
    assert "selfhost-" not in accepted_models(plain)
    assert provider_for_model(MODEL) is None and provider_for_model(MODEL, settings) == "openai"
    # the job itself knows its provider (recorded at kickoff), whoever reads it
    assert SeoBatchJob.get().provider == "openai" and SeoBatchJob.get().is_openai


def test_the_endpoints_max_requests_splits_the_run(any_db, emulator):
    """max_requests=3: the client refuses a bigger batch, so the splitter must make jobs of
    at most 3 pages; every page is done, in more than one job."""
    emulator.set_faults(openai_no_metadata=True, openai_no_response_format=True)
    settings = compat_settings(emulator, "metadata=no response_format=no max_requests=3")
    make_pages(7)
    first = kickoff(settings=settings).job
    drive([Step("collect", first.id)], settings)
    jobs = list(SeoBatchJob.select().order_by(SeoBatchJob.id))
    assert len(jobs) >= 3 and all(len(items_of(j.id)) <= 3 for j in jobs)
    assert all(j.status == "completed" for j in jobs), [j.metadata.get("error") for j in jobs]
    assert Page.select().where(Page.seo_model == MODEL).count() == 7
