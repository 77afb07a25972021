"""Gemini Files API (placeholder)."""

from __future__ import annotations

ROUTES: list = []
