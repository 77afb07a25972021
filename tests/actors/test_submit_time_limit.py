"""The submit actor's time limit comes from the settings, so it cannot drift above the lease."""

from __future__ import annotations

from actors import ACTORS
from actors.broker import runtime


def test_the_submit_actor_takes_its_time_limit_from_the_settings():
    assert ACTORS["submit"].options["time_limit"] == runtime.settings.submit_time_limit * 1000
    assert runtime.settings.submit_time_limit <= runtime.settings.submit_lease_seconds
