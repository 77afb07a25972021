"""A stand-in width function for the preview's tests (the app runs with the quality gate's table).

Every character is half an em wide, so where a cut falls is plain arithmetic: a desktop
title (20 px, 600 px line) holds 60 characters, or 59 and the "…".
"""

from __future__ import annotations


def half_em(text: str, size_px: float) -> float:
    return len(text) * size_px * 0.5
