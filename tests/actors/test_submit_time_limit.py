"""The submit actor's time limit comes from the settings, so it cannot drift above the lease."""

from __future__ import annotations

import dramatiq
import pytest

from seobatch.config import Settings
from seobatch.errors import ConfigError


def test_the_submit_actor_takes_its_time_limit_from_the_settings():
    # Declared from the environment's settings when the worker imports the actors
    settings = Settings.from_env()
    assert dramatiq.get_broker().get_actor("submit").options["time_limit"] == settings.submit_time_limit * 1000


def test_a_time_limit_above_the_submit_lease_is_refused_at_start():
    # A submit that may outlive its lease could be overtaken by a second create.
    with pytest.raises(ConfigError, match="SEOBATCH_SUBMIT_TIME_LIMIT"):
        Settings.from_env({"SEOBATCH_SUBMIT_TIME_LIMIT": "900", "SEOBATCH_SUBMIT_LEASE": "600"})
