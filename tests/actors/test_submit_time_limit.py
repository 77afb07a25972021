"""The submit actor's time limit comes from the settings, so it cannot drift above the lease."""

from __future__ import annotations

import dramatiq

from seobatch.config import Settings


def test_the_submit_actor_takes_its_time_limit_from_the_settings():
    # Declared from the environment's settings when the worker imports the actors
    settings = Settings.from_env()
    assert dramatiq.get_broker().get_actor("submit").options["time_limit"] == settings.submit_time_limit * 1000
    assert settings.submit_time_limit <= settings.submit_lease_seconds
