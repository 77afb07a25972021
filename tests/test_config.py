"""Settings.from_env: clear one-line errors for values that would misbehave later."""

from __future__ import annotations

from dataclasses import fields

import pytest

from seobatch.config import SUBMIT_TIME_LIMIT_SECONDS, Settings
from seobatch.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SEOBATCH_BATCH_DEADLINE_HOURS": "-1"}, ["SEOBATCH_BATCH_DEADLINE_HOURS", "0 or more"]),
        ({"SEOBATCH_BATCH_DEADLINE_HOURS": "nan"}, ["SEOBATCH_BATCH_DEADLINE_HOURS", "finite"]),
        ({"SEOBATCH_MAX_COST": "-5"}, ["SEOBATCH_MAX_COST", "0 or more"]),
        ({"SEOBATCH_SUBMIT_LEASE": "300"}, ["SEOBATCH_SUBMIT_LEASE (300)", "SEOBATCH_SUBMIT_TIME_LIMIT (600)"]),
        ({"SEOBATCH_SUBMIT_TIME_LIMIT": "1800"}, ["SEOBATCH_SUBMIT_LEASE (900)", "(1800)"]),
        ({"SEOBATCH_SUBMIT_SETTLE": "-1"}, ["SEOBATCH_SUBMIT_SETTLE", "at least 0"]),
        ({"SEOBATCH_POLL_INTERVAL": "-30"}, ["SEOBATCH_POLL_INTERVAL", "at least 0"]),
        ({"SEOBATCH_RECOVER_INTERVAL": "0"}, ["SEOBATCH_RECOVER_INTERVAL", "at least 1"]),
        ({"SEOBATCH_HTTP_TIMEOUT": "0"}, ["SEOBATCH_HTTP_TIMEOUT", "above 0"]),
    ],
)
def test_a_setting_that_would_misbehave_is_refused_with_one_line_naming_it(env, names):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_the_submit_lease_defaults_above_the_submit_actors_time_limit():
    settings = Settings.from_env({})
    assert settings.submit_time_limit == SUBMIT_TIME_LIMIT_SECONDS
    assert settings.submit_lease_seconds >= settings.submit_time_limit
    # Both may be raised together (very large uploads)
    raised = Settings.from_env({"SEOBATCH_SUBMIT_TIME_LIMIT": "3600", "SEOBATCH_SUBMIT_LEASE": "3600"})
    assert raised.submit_time_limit == raised.submit_lease_seconds == 3600


def test_a_deadline_of_zero_means_the_providers_own_expiry():
    assert Settings.from_env({"SEOBATCH_BATCH_DEADLINE_HOURS": "0"}).batch_deadline_hours == 0.0
    assert Settings.from_env({"SEOBATCH_BATCH_DEADLINE_HOURS": "30"}).batch_deadline_hours == 30.0


def test_api_keys_pasted_with_whitespace_are_stripped():
    settings = Settings.from_env({"ANTHROPIC_API_KEY": " sk-ant-abc\n", "GEMINI_API_KEY": "AIza-xyz\r\n"})
    assert settings.anthropic_api_key == "sk-ant-abc" and settings.gemini_api_key == "AIza-xyz"
    assert Settings.from_env({"ANTHROPIC_API_KEY": " \n"}).anthropic_api_key is None


def test_every_setting_is_read_from_a_variable_of_its_own():
    # A field added without setting(...) would keep its default whatever the environment says.
    variables = Settings.variables()
    # The quality profile's variables are named ``quality.<field>``.
    assert {name.partition(".")[0] for name in variables} == {f.name for f in fields(Settings)}
    assert len(set(variables.values())) == len(variables)


def test_an_unset_or_empty_variable_leaves_the_default():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({name: "" for name in Settings.variables().values()}) == Settings()


def test_each_kind_of_variable_is_read():
    settings = Settings.from_env({
        "SEOBATCH_SUBSCRIBERS": " a.b, ,c ", "ANTHROPIC_BASE_URL": "http://localhost:1/",
        "SEOBATCH_LOG_FORMAT": "JSON", "SEOBATCH_BATCH_MAX_REQUESTS": "0", "SEOBATCH_BATCH_MAX_BYTES": "5000",
        "SEOBATCH_HTTP_TIMEOUT": "2.5", "SEOBATCH_CHUNK_SIZE": "7", "SEOBATCH_MODEL": "gemini-2.5-flash",
    })
    assert settings.subscribers == ("a.b", "c")
    assert settings.anthropic_base_url == "http://localhost:1"
    assert settings.log_format == "json"
    assert (settings.batch_max_requests, settings.batch_max_bytes) == (None, 5000)
    assert (settings.http_timeout, settings.chunk_size, settings.model) == (2.5, 7, "gemini-2.5-flash")
    with pytest.raises(ConfigError, match="SEOBATCH_LOG_FORMAT must be one of text, json"):
        Settings.from_env({"SEOBATCH_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="SEOBATCH_CHUNK_SIZE must be at least 1"):
        Settings.from_env({"SEOBATCH_CHUNK_SIZE": "0"})


def test_keys_stay_out_of_repr():
    text = repr(Settings(anthropic_api_key="sk-ant-secret", gemini_api_key="AIza-secret"))
    assert "secret" not in text and "database_url" in text
