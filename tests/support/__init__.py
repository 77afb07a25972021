"""Shared test helpers (a package so every test imports them as ``tests.support.<module>``)."""
